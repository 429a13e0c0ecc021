"""gRPC servicers over a ``PythonRuntime``: upstream's ``ModelRuntime`` and KServe V2.

They only translate: unpack the request, call the runtime, pack the reply. Every method is
wrapped in ``errors.translated``: a ``RuntimeFailure`` becomes ``context.abort(code,
message)``; any other exception is a bug, logged with its traceback and reported as INTERNAL,
so no request can take the process down.
``server.py`` wires them into servers.
"""

from __future__ import annotations

import grpc

from modelmesh import __version__
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from modelmesh.runtimes.python.errors import translated
from modelmesh.runtimes.python.runtime import PythonRuntime


class ModelRuntimeServicer(mr_grpc.ModelRuntimeServicer):
    """``mmesh.ModelRuntime``: what the mesh uses to manage the models in this runtime."""

    def __init__(self, runtime: PythonRuntime) -> None:
        self._runtime = runtime

    @translated
    async def runtimeStatus(
        self, request: mr.RuntimeStatusRequest, context: grpc.aio.ServicerContext
    ) -> mr.RuntimeStatusResponse:
        # Upstream's contract: the mesh asks at its start, and expects an empty runtime.
        await self._runtime.purge()
        status = self._runtime.status()
        return mr.RuntimeStatusResponse(
            status=mr.RuntimeStatusResponse.READY,
            capacityInBytes=status.capacity_bytes,
            maxLoadingConcurrency=status.max_loading_concurrency,
            modelLoadingTimeoutMs=status.loading_timeout_ms,
            defaultModelSizeInBytes=status.default_model_size,
            runtimeVersion=status.version,
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
        return mr.LoadModelResponse(sizeInBytes=size)

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
        return mr.ModelSizeResponse(sizeInBytes=await self._runtime.model_size(request.modelId))

    @translated
    async def predictModelSize(
        self, request: mr.PredictModelSizeRequest, context: grpc.aio.ServicerContext
    ) -> mr.PredictModelSizeResponse:
        size = self._runtime.predict_size(
            request.modelId, request.modelType, request.modelPath, request.modelKey
        )
        return mr.PredictModelSizeResponse(sizeInBytes=size)


class InferenceServicer(v2_grpc.GRPCInferenceServiceServicer):
    """``inference.GRPCInferenceService``: KServe V2 inference on the loaded models."""

    def __init__(self, runtime: PythonRuntime) -> None:
        self._runtime = runtime

    @translated
    async def ServerLive(
        self, request: v2.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> v2.ServerLiveResponse:
        return v2.ServerLiveResponse(live=True)

    @translated
    async def ServerReady(
        self, request: v2.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> v2.ServerReadyResponse:
        return v2.ServerReadyResponse(ready=True)

    @translated
    async def ModelReady(
        self, request: v2.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> v2.ModelReadyResponse:
        return v2.ModelReadyResponse(ready=self._runtime.is_loaded(request.name))

    @translated
    async def ServerMetadata(
        self, request: v2.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> v2.ServerMetadataResponse:
        return v2.ServerMetadataResponse(name="modelmesh-python-runtime", version=__version__)

    @translated
    async def ModelMetadata(
        self, request: v2.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> v2.ModelMetadataResponse:
        return self._runtime.model_metadata(request.name)

    @translated
    async def ModelInfer(
        self, request: v2.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> v2.ModelInferResponse:
        return await self._runtime.infer(request)
