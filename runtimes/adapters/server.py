"""An adapter as a process: ``ModelRuntime`` over gRPC in front of one third-party server.

``AdapterServicer`` only translates (``errors.translated``): a ``RuntimeFailure`` becomes
``context.abort(code, message)`` with the server's own message; any other exception is a
bug, logged with its traceback and reported as INTERNAL. ``runtimeStatus`` says STARTING
until the server is up, then empties it and says READY. ``serve_forever`` is what
``modelmesh adapter`` runs.
"""

from __future__ import annotations

import importlib
import logging

import grpc

from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from modelmesh.runtimes.adapters.base import AdapterRuntime, ServerAdapter
from modelmesh.runtimes.adapters.settings import AdapterSettings, Server
from modelmesh.runtimes.python.errors import RuntimeFailure, translated
from modelmesh.runtimes.python.stop_signal import until_stop_signal

logger = logging.getLogger(__name__)

STOP_GRACE_S = 5.0

# server -> "module:class", imported only for the server asked for
_ADAPTERS: dict[Server, str] = {
    "mlserver": "modelmesh.runtimes.adapters.mlserver:MLServerAdapter",
    "triton": "modelmesh.runtimes.adapters.triton:TritonAdapter",
    "torchserve": "modelmesh.runtimes.adapters.torchserve:TorchServeAdapter",
    "tfserving": "modelmesh.runtimes.adapters.tfserving:TFServingAdapter",
}


def make_adapter(settings: AdapterSettings) -> ServerAdapter:
    module, _, name = _ADAPTERS[settings.server].partition(":")
    adapter: ServerAdapter = getattr(importlib.import_module(module), name)(settings)
    return adapter


class AdapterServicer(mr_grpc.ModelRuntimeServicer):
    def __init__(self, runtime: AdapterRuntime) -> None:
        self._runtime = runtime

    @translated
    async def runtimeStatus(
        self, request: mr.RuntimeStatusRequest, context: grpc.aio.ServicerContext
    ) -> mr.RuntimeStatusResponse:
        try:
            status = await self._runtime.status()
        except RuntimeFailure as failure:  # up, but not answering as it should yet
            logger.info("server not ready: %s", failure.message)
            status = None
        if status is None:
            return mr.RuntimeStatusResponse(status=mr.RuntimeStatusResponse.STARTING)
        return mr.RuntimeStatusResponse(
            status=mr.RuntimeStatusResponse.READY,
            capacityInBytes=status.capacity_bytes,
            maxLoadingConcurrency=status.max_loading_concurrency,
            modelLoadingTimeoutMs=status.loading_timeout_ms,
            defaultModelSizeInBytes=status.default_model_size,
            runtimeVersion=status.version,
            limitModelConcurrency=status.limit_model_concurrency > 0,
            methodInfos={
                method: mr.RuntimeStatusResponse.MethodInfo(idInjectionPath=path)
                for method, path in status.method_infos.items()
            },
        )

    @translated
    async def loadModel(
        self, request: mr.LoadModelRequest, context: grpc.aio.ServicerContext
    ) -> mr.LoadModelResponse:
        size = await self._runtime.load(
            request.modelId, request.modelType, request.modelPath, request.modelKey
        )
        return mr.LoadModelResponse(
            sizeInBytes=size, maxConcurrency=self._runtime.limit_model_concurrency
        )

    @translated
    async def unloadModel(
        self, request: mr.UnloadModelRequest, context: grpc.aio.ServicerContext
    ) -> mr.UnloadModelResponse:
        await self._runtime.unload(request.modelId)
        return mr.UnloadModelResponse()

    @translated
    async def modelSize(
        self, request: mr.ModelSizeRequest, context: grpc.aio.ServicerContext
    ) -> mr.ModelSizeResponse:
        return mr.ModelSizeResponse(sizeInBytes=self._runtime.model_size(request.modelId))

    @translated
    async def predictModelSize(
        self, request: mr.PredictModelSizeRequest, context: grpc.aio.ServicerContext
    ) -> mr.PredictModelSizeResponse:
        size = self._runtime.predict_size(
            request.modelId, request.modelType, request.modelPath, request.modelKey
        )
        return mr.PredictModelSizeResponse(sizeInBytes=size)


async def start_adapter_server(
    runtime: AdapterRuntime, address: str
) -> tuple[grpc.aio.Server, str]:
    """Serve ``ModelRuntime`` at ``address`` (``host:port``, port 0 picks one, or
    ``unix:path``); the server and the address it listens on."""
    server = grpc.aio.server()
    mr_grpc.add_ModelRuntimeServicer_to_server(AdapterServicer(runtime), server)
    port = server.add_insecure_port(address)
    if not address.startswith("unix:"):
        address = f"{address.rsplit(':', 1)[0]}:{port}"
    await server.start()
    return server, address


async def serve_forever(settings: AdapterSettings) -> None:
    """Run the adapter until SIGINT or SIGTERM, then drain calls and stop."""
    runtime = AdapterRuntime(make_adapter(settings), settings)
    server, address = await start_adapter_server(runtime, settings.management_address)
    logger.info(
        "%s adapter: ModelRuntime on %s, server at %s, inference gRPC at %s, repository %s",
        settings.server,
        address,
        settings.http_endpoint or settings.serving_address,
        settings.serving_address,
        settings.repository_dir.resolve(),
    )
    try:
        await until_stop_signal()
        logger.info("adapter stopping")
    finally:
        await server.stop(STOP_GRACE_S)
        await runtime.close()
