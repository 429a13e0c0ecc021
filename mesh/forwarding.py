"""Serving an inference request: find the model, find or make a copy, call it.

The request path (UPSTREAM.md §2.4): headers (or the request's model-name field) ->
concrete model id -> a copy here (served in-process) | a copy on a peer (forwarded once,
``hit_only``) | no copy (placement picks an instance; a peer gets ``load_local_only``,
records itself and loads). A peer that can't serve is excluded and the next choice tried,
for a bounded number of iterations; forwarded requests are never forwarded again. The
request's bytes are never parsed except to read the model id when no header names it.

Bounds (``settings.LimitSettings``): at most ``MM_MAX_INFLIGHT_REQUESTS`` requests are in
here at once, and a copy takes its requests through ``LocalCopy.enter``; past either, the
request ends at once with RESOURCE_EXHAUSTED (``LimitReached``), never in a growing queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import grpc

from .dataplane import MalformedRequest, extract_id
from .errors import (
    CapacityExhausted,
    InvalidArgument,
    LimitReached,
    LoadFailed,
    MeshError,
    MethodNotServed,
    MissingModelId,
    ModelNotFound,
    NotHere,
    Unavailable,
    VModelNotFound,
)
from .events import MeshObserver
from .instances import Instances
from .loading import Loader, LocalCopy
from .locating import Locator
from .peers import HIT_ONLY, PeerFault, Peers
from .registry import Registry
from .runtime.client import Metadata, RuntimeCallError, RuntimeClient, RuntimeInfo
from .settings import DataplaneMethod, LimitSettings
from .tasks.scaling import Scaler
from .vmodels import VModelService

log = logging.getLogger(__name__)

# upstream's bound on the tries of one request
MAX_ITERATIONS = 8

MODEL_ID_HEADERS = ("mm-model-id", "tas-model-id")
VMODEL_ID_HEADER = "mm-vmodel-id"


@dataclass(frozen=True, slots=True)
class Target:
    """What a request names: a model id, a vmodel id, or a name that may be either."""

    name: str
    is_vmodel: bool
    # from the request body with vModelId set: a model of that id is accepted too
    either: bool = False


def _header_text(key: str, value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(f"the {key} header is not UTF-8 text") from None


def target_from_headers(metadata: Metadata) -> Target | None:
    model = vmodel = None
    for key, value in metadata:
        if key in MODEL_ID_HEADERS or key == "mm-model-id-bin":
            model = _header_text(key, value)
        elif key == VMODEL_ID_HEADER or key == "mm-vmodel-id-bin":
            vmodel = _header_text(key, value)
    if model is not None and vmodel is not None:
        raise InvalidArgument("set only one of the mm-model-id and mm-vmodel-id headers")
    if model is not None:
        return Target(model, False)
    if vmodel is not None:
        return Target(vmodel, True)
    return None


class Router:
    def __init__(
        self,
        *,
        registry: Registry,
        loader: Loader,
        vmodels: VModelService,
        runtime: RuntimeClient,
        info: RuntimeInfo,
        dataplane: Mapping[str, DataplaneMethod],
        allow_other_rpcs: bool,
        instances: Instances,
        peers: Peers,
        locator: Locator,
        scaler: Scaler,
        observer: MeshObserver | None = None,
        limits: LimitSettings | None = None,
    ) -> None:
        self.registry = registry
        self.loader = loader
        self.vmodels = vmodels
        self.runtime = runtime
        self.dataplane = dataplane
        self.allow_other_rpcs = allow_other_rpcs
        self.instances = instances
        self.peers = peers
        self.locator = locator
        self.scaler = scaler
        self.observer = observer or MeshObserver()
        self.limits = limits or LimitSettings()
        # inference requests in this instance now (bounded by limits.inflight_per_instance)
        self.inflight = 0
        self._allowed = {"/" + m.lstrip("/") for m in info.method_infos}
        self._allow_any = info.allow_any_method or not info.method_infos

    def check_method(self, method: str) -> None:
        if not self._allow_any and method not in self._allowed:
            raise MethodNotServed(
                f"method {method} is not served by the runtime (it serves "
                f"{', '.join(sorted(self._allowed))}); the mesh forwards unary calls only"
            )
        if not self.allow_other_rpcs and method not in self.dataplane:
            raise MethodNotServed(f"method {method} is not enabled in the dataplane config")

    def target(self, method: str, request: bytes, metadata: Metadata) -> Target:
        target = target_from_headers(metadata)
        if target is not None:
            return target
        config = self.dataplane.get(method)
        if config is None:
            raise MissingModelId(method)
        try:
            name = extract_id(request, config.id_path)
        except MalformedRequest as exc:
            raise InvalidArgument(
                f"cannot read the model id from the {method} request: {exc}"
            ) from None
        if name is None:
            raise MissingModelId(method)
        return Target(name, config.vmodel, either=config.vmodel)

    def resolve(self, target: Target) -> str:
        if not target.is_vmodel:
            return target.name
        try:
            return self.vmodels.resolve(target.name)
        except VModelNotFound:
            if not target.either:
                raise
            if self.registry.models.get(target.name) is not None:
                return target.name
            raise ModelNotFound(target.name) from None  # the name may have meant either

    async def invoke(self, method: str, request: bytes, metadata: Metadata) -> bytes:
        started = time.perf_counter()
        model_id = ""
        hit = False
        code = "OK"
        reply = b""
        limit = self.limits.inflight_per_instance
        self.inflight += 1
        try:
            if limit and self.inflight > limit:
                raise LimitReached(
                    f"this instance has {self.inflight - 1} requests in flight",
                    "MM_MAX_INFLIGHT_REQUESTS",
                    limit,
                )
            self.check_method(method)
            target = self.target(method, request, metadata)
            try:
                model_id = self.resolve(target)
            except (ModelNotFound, VModelNotFound):
                model_id = await self._resolve_strong(target)
            copy = self.loader.copies.get(model_id)
            hit = copy is not None and copy.loaded
            if hit:
                assert copy is not None
                reply = await self._serve_local(copy, method, request, metadata)
            else:
                hop, placed = self.peers.hop_of(metadata)
                if hop is None:
                    reply = await self._route(model_id, method, request, metadata)
                else:
                    reply = await self._serve_hop(model_id, hop, placed, method, request, metadata)
            return reply
        except (MeshError, RuntimeCallError) as exc:
            code = exc.code.name
            raise
        except BaseException:
            code = "INTERNAL"
            raise
        finally:
            self.inflight -= 1
            elapsed_ms = (time.perf_counter() - started) * 1000
            self.observer.invoked(method, model_id, code, elapsed_ms, len(request), len(reply), hit)

    async def _resolve_strong(self, target: Target) -> str:
        """``resolve`` after reading the names from the store: just registered elsewhere?"""
        if target.is_vmodel:
            await self.registry.vmodels.get_strong(target.name)
        if not target.is_vmodel or target.either:
            await self.registry.models.get_strong(target.name)
        model_id = self.resolve(target)
        if self.registry.models.get(model_id) is None:
            await self.registry.models.get_strong(model_id)
        return model_id

    async def _serve_local(
        self, copy: LocalCopy, method: str, request: bytes, metadata: Metadata
    ) -> bytes:
        if not copy.loaded:
            await asyncio.shield(copy.ready)
        now = time.time_ns() // 1_000_000
        entry = self.loader.cache.get(copy.model_id)
        if entry is not None:
            self.scaler.used(copy.model_id, entry.last_used, now)
            self.loader.cache.touch(copy.model_id, now)
        await copy.enter(self.limits.inflight_per_copy, self.limits.queue_per_copy)
        try:
            return await self.runtime.invoke(method, request, copy.model_id, metadata)
        finally:
            copy.end()

    async def _serve_hop(
        self,
        model_id: str,
        hop: str,
        placed: str,
        method: str,
        request: bytes,
        metadata: Metadata,
    ) -> bytes:
        """A peer forwarded this request here: serve it here or fail, never forward it."""
        copy = self.loader.copies.get(model_id)
        if copy is None:
            if hop == HIT_ONLY:
                raise NotHere(model_id, self.instances.instance_id)
            if await self.registry.models.get_strong(model_id) is None:
                raise ModelNotFound(model_id)
            copy = self.loader.start_load(model_id, why=placed)
        return await self._serve_local(copy, method, request, metadata)

    async def _route(self, model_id: str, method: str, request: bytes, metadata: Metadata) -> bytes:
        if self.registry.models.get(model_id) is None:
            await self.registry.models.get_strong(model_id)  # a vmodel's new target, say
        excluded: set[str] = set()
        # loads this request saw fail; the registry may not show them yet
        failed: set[str] = set()
        last_error: MeshError | None = None
        me = self.instances.instance_id
        for _ in range(MAX_ITERATIONS):
            copy = self.loader.copies.get(model_id)
            if copy is not None:
                try:
                    return await self._serve_local(copy, method, request, metadata)
                except LoadFailed as exc:
                    excluded.add(me)
                    failed.add(me)
                    last_error = exc
                    continue
            step = self.locator.next_step(model_id, excluded, last_error, failed)
            if step.instance_id == me:
                try:
                    copy = self.loader.start_load(model_id, why=step.why)
                except LoadFailed as exc:  # failed here recently
                    excluded.add(me)
                    failed.add(me)
                    last_error = exc
                    continue
                continue  # served from the new copy on the next turn
            try:
                return await self.peers.forward(
                    step.instance_id,
                    step.address,
                    method,
                    request,
                    metadata,
                    hop=step.hop,
                    placed=step.why,
                )
            except PeerFault as fault:
                log.info("request for %s: %s; trying elsewhere", model_id, fault)
                excluded.add(step.instance_id)
                last_error = _as_error(model_id, fault)
                if isinstance(last_error, LoadFailed):
                    failed.add(step.instance_id)
        raise last_error or Unavailable(f"no instance could serve model {model_id!r}")


def _as_error(model_id: str, fault: PeerFault) -> MeshError:
    if fault.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return CapacityExhausted(fault.reason)
    if fault.code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(f"instance {fault}")
    return LoadFailed(model_id, fault.reason, fault.code)
