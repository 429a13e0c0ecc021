"""The mesh's ``RuntimeClient`` over a ``PythonRuntime`` in the same process: no gRPC hop.

A local hit then costs one parse of the request, the prediction and one serialization of
the reply. ``RuntimeFailure`` becomes the mesh's ``RuntimeCallError`` with the same code.
``status`` does not purge, unlike upstream's ``runtimeStatus``: the runtime is born with the
mesh's process, so it is empty when the mesh first asks, and later calls must not empty it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import grpc
from google.protobuf.message import DecodeError

from modelmesh.mesh.runtime.client import LoadResult, Metadata, RuntimeCallError, RuntimeInfo
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.runtimes.python.errors import RuntimeFailure
from modelmesh.runtimes.python.runtime import PythonRuntime

_Method = Callable[[PythonRuntime, bytes, str], Awaitable[bytes]]


async def _model_infer(runtime: PythonRuntime, request: bytes, model_id: str) -> bytes:
    message = v2.ModelInferRequest.FromString(request)
    message.model_name = model_id
    return (await runtime.infer(message)).SerializeToString()


async def _model_metadata(runtime: PythonRuntime, request: bytes, model_id: str) -> bytes:
    v2.ModelMetadataRequest.FromString(request)  # reject garbage as the gRPC server would
    return runtime.model_metadata(model_id).SerializeToString()


async def _model_ready(runtime: PythonRuntime, request: bytes, model_id: str) -> bytes:
    v2.ModelReadyRequest.FromString(request)
    return v2.ModelReadyResponse(ready=runtime.is_loaded(model_id)).SerializeToString()


class _AsCallErrors:
    """Re-raises a ``RuntimeFailure`` as the mesh's ``RuntimeCallError``; stateless, reusable."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if isinstance(exc, RuntimeFailure):
            raise RuntimeCallError(exc.code, exc.message) from exc
        if isinstance(exc, DecodeError):
            raise RuntimeCallError(
                grpc.StatusCode.INVALID_ARGUMENT, f"the request does not parse: {exc}"
            ) from exc


_AS_CALL_ERRORS = _AsCallErrors()

_METHODS: dict[str, _Method] = {
    "/inference.GRPCInferenceService/ModelInfer": _model_infer,
    "/inference.GRPCInferenceService/ModelMetadata": _model_metadata,
    "/inference.GRPCInferenceService/ModelReady": _model_ready,
}


class InProcessRuntimeClient:
    """Implements ``modelmesh.mesh.runtime.client.RuntimeClient``; owns the runtime."""

    def __init__(self, runtime: PythonRuntime) -> None:
        self._runtime = runtime

    async def status(self) -> RuntimeInfo:
        status = self._runtime.status()
        return RuntimeInfo(
            ready=True,
            capacity_bytes=status.capacity_bytes,
            max_loading_concurrency=status.max_loading_concurrency,
            loading_timeout_ms=status.loading_timeout_ms,
            default_model_size=status.default_model_size,
            version=status.version,
            method_infos=dict(status.method_infos),
        )

    async def load(
        self, model_id: str, model_type: str, model_path: str, model_key: str
    ) -> LoadResult:
        with _AS_CALL_ERRORS:
            size = await self._runtime.load(model_id, model_type, model_path, model_key)
        return LoadResult(size_bytes=size)

    async def unload(self, model_id: str) -> None:
        await self._runtime.unload(model_id)

    async def model_size(self, model_id: str) -> int:
        with _AS_CALL_ERRORS:
            return await self._runtime.model_size(model_id)

    async def predict_size(
        self, model_id: str, model_type: str, model_path: str, model_key: str
    ) -> int:
        with _AS_CALL_ERRORS:
            return self._runtime.predict_size(model_id, model_type, model_path, model_key)

    async def invoke(self, method: str, request: bytes, model_id: str, metadata: Metadata) -> bytes:
        call = _METHODS.get(method)
        if call is None:
            raise RuntimeCallError(
                grpc.StatusCode.UNIMPLEMENTED,
                f"the built-in Python runtime does not serve {method}; it serves "
                f"{', '.join(_METHODS)}",
            )
        with _AS_CALL_ERRORS:
            return await call(self._runtime, request, model_id)

    async def close(self) -> None:
        await self._runtime.close()
