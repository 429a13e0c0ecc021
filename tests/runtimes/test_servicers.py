"""The gRPC face: ModelRuntime status and sizes, V2 server calls, error translation, limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.server import start_runtime_servers
from modelmesh.runtimes.python.settings import MiB
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.runtimes.conftest import Stubs
from tests.support.models import digits


async def test_runtime_status_reports_settings_and_purges(
    stubs: Stubs, runtime: PythonRuntime, model_paths: dict[str, str]
) -> None:
    await runtime.load("m1", "sklearn", model_paths["sklearn"], "")
    status = await stubs.management.runtimeStatus(mr.RuntimeStatusRequest())
    assert status.status == mr.RuntimeStatusResponse.READY
    assert status.capacityInBytes == 512 * MiB
    assert (status.maxLoadingConcurrency, status.modelLoadingTimeoutMs) == (2, 10_000)
    assert status.defaultModelSizeInBytes == MiB
    assert status.runtimeVersion.startswith("modelmesh-python-runtime/")
    assert {k: list(v.idInjectionPath) for k, v in status.methodInfos.items()} == {
        "inference.GRPCInferenceService/ModelInfer": [1],
        "inference.GRPCInferenceService/ModelMetadata": [1],
    }
    assert not status.limitModelConcurrency and not status.allowAnyMethod
    assert not runtime.is_loaded("m1")


async def test_sizes_over_grpc(
    stubs: Stubs, models_root: Path, model_paths: dict[str, str]
) -> None:
    request = {"modelId": "m1", "modelType": "lightgbm", "modelPath": model_paths["lightgbm"]}
    predicted = await stubs.management.predictModelSize(mr.PredictModelSizeRequest(**request))
    disk = (models_root / model_paths["lightgbm"]).stat().st_size
    assert predicted.sizeInBytes == round(disk * 1.6)
    loaded = await stubs.management.loadModel(mr.LoadModelRequest(**request))
    assert loaded.sizeInBytes >= disk
    size = await stubs.management.modelSize(mr.ModelSizeRequest(modelId="m1"))
    assert size.sizeInBytes == loaded.sizeInBytes


async def test_server_calls(stubs: Stubs) -> None:
    assert (await stubs.inference.ServerLive(v2.ServerLiveRequest())).live
    assert (await stubs.inference.ServerReady(v2.ServerReadyRequest())).ready
    metadata = await stubs.inference.ServerMetadata(v2.ServerMetadataRequest())
    assert metadata.name == "modelmesh-python-runtime" and metadata.version
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stubs.inference.ModelMetadata(v2.ModelMetadataRequest(name="nope"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.fixture
async def small_servers(runtime: PythonRuntime) -> AsyncIterator[str]:
    """Both services, each on a port of its own, with messages limited to 1 MiB."""
    servers = await start_runtime_servers(
        runtime,
        management_address="127.0.0.1:0",
        serving_address="127.0.0.1:0",
        max_message_bytes=MiB,
    )
    assert len(servers.servers) == 2
    yield servers.serving_address
    await servers.stop(None)


async def test_max_message_size_is_honoured(
    small_servers: str, runtime: PythonRuntime, model_paths: dict[str, str]
) -> None:
    await runtime.load("m1", "sklearn", model_paths["sklearn"], "")
    async with grpc.aio.insecure_channel(small_servers) as channel:
        stub = v2_grpc.GRPCInferenceServiceStub(channel)
        rows = np.zeros((3000, 64), np.float32)  # 768 KB: fits
        reply = await stub.ModelInfer(build_infer_request("m1", {"x": rows}))
        assert response_arrays(reply)["predict"].shape == (3000,)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ModelInfer(build_infer_request("m1", {"x": np.zeros((5000, 64))}))
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_one_address_serves_both_services(
    runtime: PythonRuntime, model_paths: dict[str, str], tmp_path: Path
) -> None:
    address = f"unix:{tmp_path / 'runtime.sock'}"
    servers = await start_runtime_servers(
        runtime, management_address=address, serving_address=address
    )
    try:
        assert len(servers.servers) == 1
        assert servers.serving_address == servers.management_address == address
        async with grpc.aio.insecure_channel(address) as channel:
            management = mr_grpc.ModelRuntimeStub(channel)
            inference = v2_grpc.GRPCInferenceServiceStub(channel)
            await management.loadModel(
                mr.LoadModelRequest(
                    modelId="m1", modelType="sklearn", modelPath=model_paths["sklearn"]
                )
            )
            reply = await inference.ModelInfer(build_infer_request("m1", {"x": digits()[0][:2]}))
            assert response_arrays(reply)["predict"].shape == (2,)
    finally:
        await servers.stop(None)
