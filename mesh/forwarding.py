"""Serving an inference request: find the model, make sure it is loaded, call the runtime.

The request path: headers (or the request's model-name field) -> concrete model id ->
this instance's copy (loading it on a miss, one load however many requests wait) ->
the runtime, with the request's bytes untouched by the mesh. Copies elsewhere in a
cluster come with the cluster issue; on one instance every request is served here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from .dataplane import MalformedRequest, extract_id
from .errors import (
    InvalidArgument,
    MeshError,
    MethodNotServed,
    MissingModelId,
    ModelNotFound,
    VModelNotFound,
)
from .events import MeshObserver
from .loading import Loader
from .registry import Registry
from .runtime.client import Metadata, RuntimeCallError, RuntimeClient, RuntimeInfo
from .settings import DataplaneMethod
from .vmodels import VModelService

MODEL_ID_HEADERS = ("mm-model-id", "tas-model-id")
VMODEL_ID_HEADER = "mm-vmodel-id"


@dataclass(frozen=True, slots=True)
class Target:
    """What a request names: a model id, a vmodel id, or a name that may be either."""

    name: str
    is_vmodel: bool
    # from the request body with vModelId set: a model of that id is accepted too
    either: bool = False


def target_from_headers(metadata: Metadata) -> Target | None:
    model = vmodel = None
    for key, value in metadata:
        if key in MODEL_ID_HEADERS or key == "mm-model-id-bin":
            model = value.decode("utf-8") if isinstance(value, bytes) else value
        elif key == VMODEL_ID_HEADER or key == "mm-vmodel-id-bin":
            vmodel = value.decode("utf-8") if isinstance(value, bytes) else value
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
        observer: MeshObserver | None = None,
    ) -> None:
        self.registry = registry
        self.loader = loader
        self.vmodels = vmodels
        self.runtime = runtime
        self.dataplane = dataplane
        self.allow_other_rpcs = allow_other_rpcs
        self.observer = observer or MeshObserver()
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
            if target.either and self.registry.models.get(target.name) is not None:
                return target.name
            raise

    async def invoke(self, method: str, request: bytes, metadata: Metadata) -> bytes:
        started = time.perf_counter()
        model_id = ""
        hit = False
        code = "OK"
        reply = b""
        try:
            self.check_method(method)
            model_id = self.resolve(self.target(method, request, metadata))
            loader = self.loader
            copy = loader.copies.get(model_id)
            hit = copy is not None and copy.loaded
            if copy is None or not copy.loaded:
                if self.registry.models.get(model_id) is None:
                    raise ModelNotFound(model_id)
                copy = await loader.ensure_loaded(model_id)
            loader.cache.touch(model_id, time.time_ns() // 1_000_000)
            copy.begin()
            try:
                reply = await self.runtime.invoke(method, request, model_id, metadata)
            finally:
                copy.end()
            return reply
        except (MeshError, RuntimeCallError) as exc:
            code = exc.code.name
            raise
        except BaseException:
            code = "INTERNAL"
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            self.observer.invoked(method, model_id, code, elapsed_ms, len(request), len(reply), hit)
