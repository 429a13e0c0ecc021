"""Desired (the resource) against actual (the mesh's vmodel) gives the steps to take.

Pure: ``plan`` reads what the resource wants (``Serve``, ``Hold``, ``Remove``), the
vmodel status the mesh reported and whether our finalizer is on the object, and returns
the steps; ``apply.py`` performs the mesh steps and ``handling.py`` the Kubernetes ones.

- ``Serve``: put the finalizer on first (so a deletion always reaches us), then
  ``setVModel`` when the vmodel is missing, points at another concrete model (the spec
  changed: a rollover), or its target failed to load (a retry). ``loadNow`` is set for
  all three, as upstream sets it for new, transitioning and failed predictors. A vmodel
  that already targets the current model is left alone.
- ``Hold``: the spec is invalid or no runtime serves it: change nothing in the mesh, so
  a model that serves keeps serving while the user fixes the spec.
- ``Remove``: the resource is being deleted, is gone, or left ModelMesh mode: delete
  the vmodel (its auto-delete models go with it), then drop the finalizer.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..protos import model_mesh_pb2 as pb
from .sources import ModelSource
from .status import Failure

ModelStatus = pb.ModelStatusInfo.ModelStatus
VModelStatus = pb.VModelStatusInfo.VModelStatus


@dataclass(frozen=True)
class Serve:
    source: ModelSource


@dataclass(frozen=True)
class Hold:
    failure: Failure


@dataclass(frozen=True)
class Remove:
    vmodel_id: str
    owner: str


Wanted = Serve | Hold | Remove


@dataclass(frozen=True)
class AddFinalizer:
    pass


@dataclass(frozen=True)
class RemoveFinalizer:
    pass


@dataclass(frozen=True)
class SetVModel:
    """Register the vmodel's target with ``loadNow`` (see the module docstring)."""

    source: ModelSource


@dataclass(frozen=True)
class DeleteVModel:
    vmodel_id: str
    owner: str


Step = AddFinalizer | RemoveFinalizer | SetVModel | DeleteVModel


def plan(wanted: Wanted, actual: pb.VModelStatusInfo, *, has_finalizer: bool) -> list[Step]:
    """The steps, in order, that bring the mesh (and the finalizer) to what is wanted."""
    exists = actual.status != VModelStatus.NOT_FOUND
    if isinstance(wanted, Remove):
        steps: list[Step] = [DeleteVModel(wanted.vmodel_id, wanted.owner)] if exists else []
        return [*steps, RemoveFinalizer()] if has_finalizer else steps
    if isinstance(wanted, Hold):
        return []
    steps = [] if has_finalizer else [AddFinalizer()]
    if not exists or actual.targetModelId != wanted.source.model_id or _target_failed(actual):
        steps.append(SetVModel(wanted.source))
    return steps


def _target_failed(actual: pb.VModelStatusInfo) -> bool:
    if actual.status == VModelStatus.TRANSITION_FAILED:
        return True
    same = actual.activeModelId == actual.targetModelId
    target = actual.activeModelStatus if same else actual.targetModelStatus
    return target.status == ModelStatus.LOADING_FAILED
