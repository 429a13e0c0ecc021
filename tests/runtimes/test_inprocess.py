"""The in-process RuntimeClient: the mesh's calls, without gRPC, with gRPC's codes."""

from __future__ import annotations

from pathlib import Path

import grpc
import joblib
import numpy as np
import pytest

from modelmesh.mesh.runtime.client import LoadResult, RuntimeCallError, RuntimeClient
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.runtimes.python.inprocess import InProcessRuntimeClient
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import MiB
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.support.models import digits

INFER = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture
def client(runtime: PythonRuntime) -> RuntimeClient:
    return InProcessRuntimeClient(runtime)


async def test_status(client: RuntimeClient) -> None:
    info = await client.status()
    assert info.ready
    assert (info.capacity_bytes, info.max_loading_concurrency) == (512 * MiB, 2)
    assert (info.loading_timeout_ms, info.default_model_size) == (10_000, MiB)
    assert info.version.startswith("modelmesh-python-runtime/")
    assert info.method_infos == {
        "inference.GRPCInferenceService/ModelInfer": (1,),
        "inference.GRPCInferenceService/ModelMetadata": (1,),
    }


async def test_load_invoke_unload(
    client: RuntimeClient, models_root: Path, model_paths: dict[str, str]
) -> None:
    result = await client.load("sk-1", "sklearn", model_paths["sklearn"], "")
    assert isinstance(result, LoadResult) and result.size_bytes > 0
    assert await client.model_size("sk-1") == result.size_bytes
    rows = digits()[0][:8]
    # the mesh passes the client's bytes on; the concrete model id replaces the name
    request = build_infer_request("my-vmodel", {"input-0": rows}).SerializeToString()
    reply = v2.ModelInferResponse.FromString(await client.invoke(INFER, request, "sk-1", []))
    assert reply.model_name == "sk-1"
    expected = joblib.load(models_root / model_paths["sklearn"]).predict(rows)
    np.testing.assert_array_equal(response_arrays(reply)["predict"], expected)

    metadata = v2.ModelMetadataResponse.FromString(
        await client.invoke(
            "/inference.GRPCInferenceService/ModelMetadata",
            v2.ModelMetadataRequest(name="my-vmodel").SerializeToString(),
            "sk-1",
            [],
        )
    )
    assert (metadata.name, metadata.platform) == ("sk-1", "sklearn")
    ready = "/inference.GRPCInferenceService/ModelReady"
    assert v2.ModelReadyResponse.FromString(await client.invoke(ready, b"", "sk-1", [])).ready

    await client.unload("sk-1")
    assert not v2.ModelReadyResponse.FromString(await client.invoke(ready, b"", "sk-1", [])).ready
    with pytest.raises(RuntimeCallError) as error:
        await client.invoke(INFER, request, "sk-1", [])
    assert (error.value.code, error.value.message) == (
        grpc.StatusCode.NOT_FOUND,
        "model sk-1 is not loaded",
    )


async def test_failures_keep_their_codes(
    client: RuntimeClient, model_paths: dict[str, str]
) -> None:
    await client.load("sk-1", "sklearn", model_paths["sklearn"], "")
    cases = [
        (client.load("x", "sklearn", "../../etc", ""), grpc.StatusCode.INVALID_ARGUMENT),
        (client.load("x", "sklearn", "nowhere", ""), grpc.StatusCode.FAILED_PRECONDITION),
        (client.load("x", "tensorflow", "sklearn", ""), grpc.StatusCode.INVALID_ARGUMENT),
        (client.model_size("x"), grpc.StatusCode.NOT_FOUND),
        (client.predict_size("x", "sklearn", "/", ""), grpc.StatusCode.INVALID_ARGUMENT),
        (client.invoke(INFER, b"\xff\xff", "sk-1", []), grpc.StatusCode.INVALID_ARGUMENT),
        (client.invoke("/pkg.Svc/Other", b"", "sk-1", []), grpc.StatusCode.UNIMPLEMENTED),
    ]
    for call, code in cases:
        with pytest.raises(RuntimeCallError) as error:
            await call
        assert error.value.code == code, error.value.message


async def test_predict_size_and_unknown_unload(
    client: RuntimeClient, model_paths: dict[str, str]
) -> None:
    assert await client.predict_size("x", "onnx", model_paths["onnx"], "") > 0
    await client.unload("never-loaded")


async def test_close_unloads(client: RuntimeClient, model_paths: dict[str, str]) -> None:
    await client.load("sk-1", "sklearn", model_paths["sklearn"], "")
    await client.close()
    with pytest.raises(RuntimeCallError):
        await client.model_size("sk-1")
