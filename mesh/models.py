"""The model lifecycle behind the ModelMesh API: register, unregister, status, ensureLoaded.

Registration is a compare-and-swap on the model's record; re-registering the same
model with the same info is a no-op, with other info it is ALREADY_EXISTS (upstream).
Loads go through ``loading.py``; ``sync`` waits on it. A failed load shows in the
status and never removes the registration.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from ..protos import model_mesh_pb2 as pb
from .aio import within
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    LoadFailed,
    MeshError,
    ModelNotFound,
)
from .events import MeshObserver
from .kv.keys import check_id
from .loading import Loader, now_ms
from .locating import Locator
from .records import ModelRecord
from .registry import Registry
from .settings import CacheSettings
from .status import ModelStatus, model_status

_SETTLE_POLL_S = 1.0


def valid_id(value: str, kind: str) -> str:
    try:
        return check_id(value, kind)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


class ModelService:
    def __init__(
        self,
        *,
        registry: Registry,
        loader: Loader,
        locator: Locator,
        settings: CacheSettings,
        observer: MeshObserver | None = None,
    ) -> None:
        self.registry = registry
        self.loader = loader
        self.locator = locator
        self.settings = settings
        self.observer = observer or MeshObserver()
        self._record_changed = asyncio.Event()
        registry.models.listen(lambda _id, _record: self._record_changed.set())

    def status(self, model_id: str) -> pb.ModelStatusInfo:
        info = model_status(
            self.registry.models.get(model_id),
            now=now_ms(),
            failure_expiry_ms=self.settings.load_failure_expiry_ms,
            alive=self.locator.instances.alive().keys(),
        )
        copy = self.loader.copies.get(model_id)
        if copy is not None and info.status != ModelStatus.LOADED:
            # this instance knows before the registry does (the record is written after)
            info.status = ModelStatus.LOADED if copy.loaded else ModelStatus.LOADING
        return info

    def referring_vmodels(self, model_id: str) -> list[str]:
        views = self.registry.vmodels
        return [
            vid
            for vid in views.ids()
            if (vm := views.get(vid)) and model_id in (vm.active_model, vm.target_model)
        ]

    async def register(
        self,
        model_id: str,
        info: pb.ModelInfo,
        *,
        load_now: bool = False,
        sync: bool = False,
        last_used: int = 0,
        auto_delete: bool = False,
    ) -> pb.ModelStatusInfo:
        valid_id(model_id, "modelId")
        if not info.type:
            raise InvalidArgument("modelInfo.type must be set (the model's type or format)")
        stamp = last_used or now_ms() - self.settings.new_model_age_ms

        def create(current: ModelRecord | None) -> ModelRecord:
            if current is None:
                return ModelRecord(
                    info.type, info.path, info.key, last_used=stamp, auto_delete=auto_delete
                )
            if current.same_info(info.type, info.path, info.key):
                return current
            raise AlreadyExists(
                f"model {model_id!r} is already registered with different type, path or key;"
                " unregister it first or use a new model id"
            )

        before = self.registry.models.get(model_id)
        if await self.registry.models.update(model_id, create) is not before:
            self.observer.registered(model_id, info.type)
        if load_now:
            await self.load(model_id, sync=sync, last_used=stamp)
        return self.status(model_id)

    async def unregister(self, model_id: str) -> None:
        vmodels = self.referring_vmodels(model_id)
        if vmodels:
            raise FailedPrecondition(
                f"model {model_id!r} is used by vmodel(s) {', '.join(vmodels)}; "
                "delete or retarget them first"
            )
        if self.registry.models.get(model_id) is not None:
            await self.registry.models.update(model_id, lambda _: None)
            self.observer.unregistered(model_id)
        await self.loader.unload(model_id)

    async def ensure_loaded(
        self,
        model_id: str,
        *,
        last_used: int = 0,
        sync: bool = False,
        placed_here: str | None = None,
    ) -> pb.ModelStatusInfo:
        """Load the model somewhere if it isn't; ``placed_here``: a peer placed it on this
        instance, for that reason."""
        if self.registry.models.get(model_id) is None:
            return self.status(model_id)
        # an explicit request retries a model whose loads failed, wherever they failed
        self.loader.forget_failure(model_id)
        await self.registry.models.update(
            model_id, lambda r: r.without_failures() if r is not None else None
        )
        await self.load(
            model_id, sync=sync, last_used=last_used or now_ms(), placed_here=placed_here
        )
        return self.status(model_id)

    async def load(
        self, model_id: str, *, sync: bool, last_used: int, placed_here: str | None = None
    ) -> None:
        """Start a load where placement says; with ``sync`` wait for the outcome, which
        the status shows (a failure is not raised)."""
        try:
            copy = self.locator.load(model_id, placed_here=placed_here, last_used=last_used)
        except LoadFailed:
            return  # failed recently: the status shows it
        if not sync:
            return
        timeout_s = 5 * max(self.loader.info.loading_timeout_ms / 1000, 1.0)
        with contextlib.suppress(LoadFailed, TimeoutError):
            if copy is not None:
                await within(asyncio.shield(copy.ready), timeout_s)
            else:
                await within(self._settled(model_id), timeout_s)

    async def _settled(self, model_id: str) -> None:
        """Until the model is loaded or failed somewhere (a load on a peer)."""
        while self.status(model_id).status in (ModelStatus.LOADING, ModelStatus.NOT_LOADED):
            self._record_changed.clear()
            with contextlib.suppress(TimeoutError):
                # the peer's writes arrive through the watch; re-check now and then anyway
                await within(self._record_changed.wait(), _SETTLE_POLL_S)

    async def set_copies(
        self, model_id: str, min_copies: int, max_copies: int
    ) -> pb.ModelStatusInfo:
        """Per-model bounds on copies: the leader keeps ``min_copies`` loaded, scaling
        stops at ``max_copies`` and the janitor lets copies beyond it go (0: none)."""
        if max_copies and min_copies > max_copies:
            raise InvalidArgument(f"minCopies ({min_copies}) is more than maxCopies ({max_copies})")

        def change(record: ModelRecord | None) -> ModelRecord:
            if record is None:
                raise ModelNotFound(model_id)
            return replace(record, min_copies=min_copies, max_copies=max_copies)

        await self.registry.models.update(model_id, change)
        return self.status(model_id)

    async def delete_if_unreferenced(self, model_id: str) -> None:
        """Auto-delete: drop a model registered for a vmodel once no vmodel uses it."""
        record = self.registry.models.get(model_id)
        if record is None or not record.auto_delete or self.referring_vmodels(model_id):
            return
        with contextlib.suppress(MeshError):
            await self.unregister(model_id)
