"""VModels: stable names whose requests go to an active model while a target loads.

Setting a new target starts a transition: the active model keeps serving until the
target is loaded, then the target becomes active (``force`` skips the wait; an active
model loaded nowhere has nothing to protect, so the switch is immediate unless
``loadNow`` asks for the target to be loaded first). A target that fails to load leaves
the vmodel TRANSITION_FAILED, still serving the active model. Models registered through
``setVModel`` with ``autoDeleteTargetModel`` are deleted once no vmodel refers to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..protos import model_mesh_pb2 as pb
from .aio import within
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    MeshError,
    ModelNotFound,
    VModelNotFound,
)
from .loading import Loader, now_ms
from .models import ModelService, valid_id
from .records import VModelRecord
from .registry import Registry
from .status import ModelStatus, vmodel_status

log = logging.getLogger(__name__)

_TRANSITION_CHECK_S = 10.0


class VModelService:
    def __init__(self, *, registry: Registry, models: ModelService, loader: Loader) -> None:
        self.registry = registry
        self.models = models
        self.loader = loader
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        loader.on_load_done.append(lambda _: self._changed.set())
        registry.models.listen(lambda _id, _rec: self._changed.set())
        registry.vmodels.listen(lambda _id, _rec: self._changed.set())

    # -- API --------------------------------------------------------------------

    def status(self, vmodel_id: str, owner: str = "") -> pb.VModelStatusInfo:
        record = self.registry.vmodels.get(vmodel_id)
        if record is not None and owner and record.owner != owner:
            record = None  # upstream: a wrong owner reads as not found
        if record is None:
            return vmodel_status(None, pb.ModelStatusInfo(), None)
        target = self.models.status(record.target_model) if record.transitioning else None
        return vmodel_status(record, self.models.status(record.active_model), target)

    async def set(self, request: pb.SetVModelRequest) -> pb.VModelStatusInfo:
        vmodel_id = valid_id(request.vModelId, "vModelId")
        target = valid_id(request.targetModelId, "targetModelId")
        if request.HasField("modelInfo") and request.modelInfo.type:
            await self.models.register(
                target, request.modelInfo, auto_delete=request.autoDeleteTargetModel
            )
        elif self.registry.models.get(target) is None:
            raise ModelNotFound(target)
        expected = request.expectedTargetModelId

        def change(current: VModelRecord | None) -> VModelRecord | None:
            if current is None:
                if request.updateOnly:
                    raise VModelNotFound(vmodel_id)
                if expected and expected != target:
                    raise FailedPrecondition(
                        f"vmodel {vmodel_id!r} does not exist, expected target {expected!r}"
                    )
                return VModelRecord(target, target, request.owner)
            if request.owner and current.owner != request.owner:
                raise AlreadyExists(
                    f"vmodel {vmodel_id!r} belongs to owner {current.owner!r}, "
                    f"not {request.owner!r}"
                )
            if expected and expected != current.target_model:
                raise FailedPrecondition(
                    f"vmodel {vmodel_id!r} targets {current.target_model!r}, "
                    f"not the expected {expected!r}"
                )
            if current.target_model == target and not request.force:
                return current
            if (
                request.force
                or current.active_model == target
                or (not request.loadNow and not self._loaded_anywhere(current.active_model))
            ):
                return VModelRecord(target, target, current.owner)
            return VModelRecord(current.active_model, target, current.owner)

        before = self.registry.vmodels.get(vmodel_id)
        record = await self.registry.vmodels.update(vmodel_id, change)
        assert record is not None
        await self._release(before, record)
        if record.transitioning or request.loadNow:
            try:
                # with sync, a new vmodel's target is waited for as upstream does
                await self.models.load(record.target_model, sync=request.sync, last_used=now_ms())
            except MeshError as exc:
                log.warning("vmodel %s: target %s can't load: %s", vmodel_id, target, exc)
                self._changed.set()
        if request.sync:
            await self._wait_settled(vmodel_id)
        return self.status(vmodel_id)

    async def delete(self, vmodel_id: str, owner: str = "") -> None:
        valid_id(vmodel_id, "vModelId")
        before = self.registry.vmodels.get(vmodel_id)

        def remove(current: VModelRecord | None) -> VModelRecord | None:
            if current is not None and owner and current.owner != owner:
                raise FailedPrecondition(
                    f"vmodel {vmodel_id!r} belongs to owner {current.owner!r}, not {owner!r}"
                )
            return None

        await self.registry.vmodels.update(vmodel_id, remove)
        await self._release(before, None)

    def resolve(self, vmodel_id: str) -> str:
        """The model a request for this vmodel goes to (the request path: no awaits)."""
        record = self.registry.vmodels.get(vmodel_id)
        if record is None:
            raise VModelNotFound(vmodel_id)
        return record.active_model

    # -- transitions --------------------------------------------------------------

    def _loaded_anywhere(self, model_id: str) -> bool:
        return self.models.status(model_id).status == ModelStatus.LOADED

    def _start_target_load(self, vmodel_id: str, record: VModelRecord) -> None:
        try:
            self.models.locator.load(record.target_model)
        except MeshError as exc:
            log.warning("vmodel %s: target %s can't load: %s", vmodel_id, record.target_model, exc)
            self._changed.set()

    async def _release(self, before: VModelRecord | None, after: VModelRecord | None) -> None:
        """Auto-delete the models ``before`` referred to and ``after`` no longer does."""
        if before is None:
            return
        kept = {after.active_model, after.target_model} if after else set()
        for model_id in {before.active_model, before.target_model} - kept:
            await self.models.delete_if_unreferenced(model_id)

    async def advance(self) -> None:
        """Move every transitioning vmodel on: promote loaded targets, mark failed ones,
        and (re)start loads of targets not loading (e.g. after a restart)."""
        for vmodel_id in self.registry.vmodels.ids():
            record = self.registry.vmodels.get(vmodel_id)
            if record is None or not record.transitioning:
                continue
            target = self.models.status(record.target_model).status
            try:
                if target == ModelStatus.LOADED:
                    await self._promote(vmodel_id, record)
                elif target == ModelStatus.LOADING_FAILED or (target == ModelStatus.NOT_FOUND):
                    await self._mark_failed(vmodel_id, record, failed=True)
                elif target == ModelStatus.NOT_LOADED:
                    if self.loader.recent_failure(record.target_model) is None:
                        self._start_target_load(vmodel_id, record)
                elif record.failed:
                    await self._mark_failed(vmodel_id, record, failed=False)
            except MeshError as exc:
                log.warning("vmodel %s: transition step failed: %s", vmodel_id, exc)

    async def _promote(self, vmodel_id: str, record: VModelRecord) -> None:
        def promote(current: VModelRecord | None) -> VModelRecord | None:
            if current is None or current.target_model != record.target_model:
                return current  # changed meanwhile: the next pass decides
            return VModelRecord(current.target_model, current.target_model, current.owner)

        after = await self.registry.vmodels.update(vmodel_id, promote)
        if after is not None and not after.transitioning:
            log.info("vmodel %s now serves %s", vmodel_id, after.active_model)
            await self._release(record, after)

    async def _mark_failed(self, vmodel_id: str, record: VModelRecord, *, failed: bool) -> None:
        def mark(current: VModelRecord | None) -> VModelRecord | None:
            if current is None or current.target_model != record.target_model:
                return current
            if current.failed == failed:
                return current
            return VModelRecord(current.active_model, current.target_model, current.owner, failed)

        await self.registry.vmodels.update(vmodel_id, mark)

    async def _wait_settled(self, vmodel_id: str) -> None:
        timeout_s = 5 * max(self.loader.info.loading_timeout_ms / 1000, 1.0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            await self.advance()
            record = self.registry.vmodels.get(vmodel_id)
            if record is None or not record.transitioning or record.failed:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await within(self._changed.wait(), min(1.0, deadline - loop.time()))

    async def run(self) -> None:
        """Background driver: advance transitions whenever something changes."""
        while True:
            self._changed.clear()
            await self.advance()
            with contextlib.suppress(TimeoutError):
                await within(self._changed.wait(), _TRANSITION_CHECK_S)
