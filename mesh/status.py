"""Model and vmodel status as the ModelMesh API reports it, from registry records.

Pure functions: a record (and the time) in, a ``ModelStatusInfo`` /
``VModelStatusInfo`` message out. A copy is LOADED once its instance recorded the end of
its load, LOADING before that; failures count only until they expire.
"""

from __future__ import annotations

from collections.abc import Collection

from ..protos import model_mesh_pb2 as pb
from .records import ModelRecord, VModelRecord

ModelStatus = pb.ModelStatusInfo.ModelStatus
VModelStatus = pb.VModelStatusInfo.VModelStatus


def model_status(
    record: ModelRecord | None,
    *,
    now: int,
    failure_expiry_ms: int,
    alive: Collection[str],
) -> pb.ModelStatusInfo:
    """``alive``: instance ids with a live record; copies elsewhere died with their instance."""
    info = pb.ModelStatusInfo()
    if record is None:
        info.status = ModelStatus.NOT_FOUND
        return info
    copies: list[tuple[int, str, int]] = []
    for instance, started in record.instance_ids.items():
        if instance not in alive:
            continue
        loaded = record.loaded_in.get(instance)
        if loaded is not None:
            copies.append((loaded, instance, ModelStatus.LOADED))
        else:
            copies.append((started, instance, ModelStatus.LOADING))
    for instance, failed in record.failed_in.items():
        if now - failed < failure_expiry_ms:
            copies.append((failed, instance, ModelStatus.LOADING_FAILED))
            info.errors.append(f"{instance}: {record.failures.get(instance, 'load failed')}")
    copies.sort(reverse=True)  # upstream: newest first
    for when, instance, status in copies:
        info.modelCopyInfos.add(location=instance, copyStatus=status, time=when)
    states = {status for _, _, status in copies}
    for status in (ModelStatus.LOADED, ModelStatus.LOADING, ModelStatus.LOADING_FAILED):
        if status in states:
            info.status = status
            return info
    info.status = ModelStatus.NOT_LOADED
    return info


def vmodel_status(
    record: VModelRecord | None,
    active: pb.ModelStatusInfo,
    target: pb.ModelStatusInfo | None,
) -> pb.VModelStatusInfo:
    info = pb.VModelStatusInfo()
    if record is None:
        info.status = VModelStatus.NOT_FOUND
        info.activeModelStatus.status = ModelStatus.NOT_FOUND
        return info
    info.activeModelId = record.active_model
    info.targetModelId = record.target_model
    info.owner = record.owner
    info.activeModelStatus.CopyFrom(active)
    if not record.transitioning:
        info.status = VModelStatus.DEFINED
    elif record.failed:
        info.status = VModelStatus.TRANSITION_FAILED
    else:
        info.status = VModelStatus.TRANSITIONING
    if record.transitioning and target is not None:
        info.targetModelStatus.CopyFrom(target)
    return info
