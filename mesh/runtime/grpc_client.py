"""RuntimeClient over gRPC: upstream's ModelRuntime API plus the runtime's inference port.

Works with any upstream-compatible runtime or adapter. Inference requests go out as the
client's bytes with the model id appended at the method's idInjectionPath
(``dataplane.inject_id``); replies come back unparsed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import grpc

from ...protos import model_runtime_pb2 as pb
from ...protos import model_runtime_pb2_grpc as pb_grpc
from ..dataplane import inject_id
from .client import LoadResult, Metadata, RuntimeCallError, RuntimeInfo

_PREDICT_SIZE_DEADLINE_S = 0.5
_MODEL_SIZE_DEADLINE_S = 30.0
# transport headers the client sent us; gRPC sets its own on the next hop
_HOP_HEADERS = frozenset({"user-agent", "content-type", "te", "host", "grpc-accept-encoding"})


T = TypeVar("T")


async def _answer(call: Awaitable[T]) -> T:
    """The runtime's reply; its gRPC errors as RuntimeCallError with their own status."""
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        raise RuntimeCallError(exc.code(), exc.details() or exc.code().name) from exc


class GrpcRuntimeClient:
    def __init__(self, management: str, serving: str, *, max_message_bytes: int) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._mgmt_channel = grpc.aio.insecure_channel(management, options=options)
        self._serving_channel = (
            self._mgmt_channel
            if serving == management
            else grpc.aio.insecure_channel(serving, options=options)
        )
        self._stub = pb_grpc.ModelRuntimeStub(self._mgmt_channel)
        self._methods: dict[str, grpc.aio.UnaryUnaryMultiCallable] = {}
        self._inject: dict[str, tuple[int, ...]] = {}

    async def status(self) -> RuntimeInfo:
        reply = await _answer(self._stub.runtimeStatus(pb.RuntimeStatusRequest(), timeout=10))
        methods = {
            "/" + name.lstrip("/"): tuple(info.idInjectionPath)
            for name, info in reply.methodInfos.items()
        }
        self._inject = methods
        return RuntimeInfo(
            ready=reply.status == pb.RuntimeStatusResponse.READY,
            capacity_bytes=reply.capacityInBytes,
            max_loading_concurrency=reply.maxLoadingConcurrency,
            loading_timeout_ms=reply.modelLoadingTimeoutMs,
            default_model_size=reply.defaultModelSizeInBytes,
            version=reply.runtimeVersion,
            method_infos=methods,
            limit_model_concurrency=reply.limitModelConcurrency,
            allow_any_method=reply.allowAnyMethod,
        )

    async def load(
        self, model_id: str, model_type: str, model_path: str, model_key: str
    ) -> LoadResult:
        request = pb.LoadModelRequest(
            modelId=model_id, modelType=model_type, modelPath=model_path, modelKey=model_key
        )
        reply = await _answer(self._stub.loadModel(request))
        return LoadResult(reply.sizeInBytes, reply.maxConcurrency)

    async def unload(self, model_id: str) -> None:
        await _answer(self._stub.unloadModel(pb.UnloadModelRequest(modelId=model_id), timeout=60))

    async def model_size(self, model_id: str) -> int:
        reply = await _answer(
            self._stub.modelSize(
                pb.ModelSizeRequest(modelId=model_id), timeout=_MODEL_SIZE_DEADLINE_S
            )
        )
        return int(reply.sizeInBytes)

    async def predict_size(
        self, model_id: str, model_type: str, model_path: str, model_key: str
    ) -> int:
        request = pb.PredictModelSizeRequest(
            modelId=model_id, modelType=model_type, modelPath=model_path, modelKey=model_key
        )
        reply = await _answer(
            self._stub.predictModelSize(request, timeout=_PREDICT_SIZE_DEADLINE_S)
        )
        return int(reply.sizeInBytes)

    async def invoke(self, method: str, request: bytes, model_id: str, metadata: Metadata) -> bytes:
        call = self._methods.get(method)
        if call is None:
            call = self._serving_channel.unary_unary(method)
            self._methods[method] = call
        path = self._inject.get(method)
        if path:
            request = inject_id(request, path, model_id)
        headers = [
            (k, v) for k, v in metadata if not k.startswith((":", "mm-")) and k not in _HOP_HEADERS
        ]
        headers.append(("mm-model-id", model_id))
        reply: bytes = await _answer(call(request, metadata=headers))
        return reply

    async def close(self) -> None:
        await self._mgmt_channel.close()
        if self._serving_channel is not self._mgmt_channel:
            await self._serving_channel.close()
