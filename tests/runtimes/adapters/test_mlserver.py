"""The MLServer adapter against a real MLServer (1.7.1, its own venv), and a mesh in front.

Marked slow: the first run makes MLServer's virtual environment (1-5 minutes here,
network-bound); later runs reuse it and take seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import joblib
import numpy as np
import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2 as mm
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.runtimes.adapters.conftest import Adapter, StartAdapter, StartMesh
from tests.runtimes.adapters.servers import RunningServer
from tests.support.models import digits, write_sklearn
from tests.support.storage import S3Server, write_storage_config

pytestmark = pytest.mark.slow

Status = mm.ModelStatusInfo.ModelStatus
ROWS = 5


def _models(adapter: Adapter) -> Path:
    return adapter.settings.models_root


def _expected(model_file: Path) -> np.ndarray:
    return joblib.load(model_file).predict(digits()[0][:ROWS])


def _request(name: str) -> v2.ModelInferRequest:
    return build_infer_request(name, {"x": np.asarray(digits()[0][:ROWS])})


async def _index(mlserver: RunningServer) -> list[str]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        url = f"{mlserver.http_url}/v2/repository/index"
        async with session.post(url, json={"ready": True}) as response:
            return sorted(entry["name"] for entry in await response.json())


async def test_status_load_predict_size_and_unload(
    mlserver: RunningServer, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter("mlserver", mlserver)
    model_file = write_sklearn(_models(adapter) / "digits")
    status = await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    assert status.status == mr.RuntimeStatusResponse.READY
    assert status.capacityInBytes == 512 * 1024 * 1024
    assert status.runtimeVersion.startswith("mlserver/")
    assert dict(status.methodInfos)[
        "inference.GRPCInferenceService/ModelInfer"
    ].idInjectionPath == [1]

    request = mr.LoadModelRequest(
        modelId="digits__isvc-1", modelType="mt:sklearn", modelPath="digits"
    )
    loaded = await adapter.stub.loadModel(request)
    expected_size = int(model_file.stat().st_size * 1.25)
    assert loaded.sizeInBytes == expected_size
    sized = await adapter.stub.modelSize(mr.ModelSizeRequest(modelId="digits__isvc-1"))
    assert sized.sizeInBytes == expected_size
    predicted = await adapter.stub.predictModelSize(
        mr.PredictModelSizeRequest(modelId="other", modelType="sklearn", modelPath="digits")
    )
    assert predicted.sizeInBytes == expected_size
    assert await _index(mlserver) == ["digits__isvc-1"]

    # inference goes to MLServer itself, named by the model id
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mlserver.grpc_port}") as channel:
        reply = await v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(
            _request("digits__isvc-1")
        )
    labels = next(iter(response_arrays(reply).values()))
    assert labels.ravel().tolist() == _expected(model_file).tolist()

    await adapter.stub.unloadModel(mr.UnloadModelRequest(modelId="digits__isvc-1"))
    assert await _index(mlserver) == []
    assert list(mlserver.repository.iterdir()) == []
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await adapter.stub.modelSize(mr.ModelSizeRequest(modelId="digits__isvc-1"))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
    # unloading an unknown model is fine
    await adapter.stub.unloadModel(mr.UnloadModelRequest(modelId="never-loaded"))


async def test_mesh_predicts_through_the_adapter_with_model_name_only(
    mlserver: RunningServer, start_adapter: StartAdapter, start_mesh_on: StartMesh
) -> None:
    adapter = await start_adapter("mlserver", mlserver)
    small = write_sklearn(_models(adapter) / "small")
    forest = write_sklearn(_models(adapter) / "forest", kind="forest")
    mesh = await start_mesh_on(adapter)
    for model_id, path in (("small", "small"), ("forest", "forest/model.joblib")):
        status = await mesh.mesh.registerModel(
            mm.RegisterModelRequest(
                modelId=model_id,
                modelInfo=mm.ModelInfo(type="sklearn", path=path),
                loadNow=True,
                sync=True,
            )
        )
        assert status.status == Status.LOADED, status.errors
    for model_id, model_file in (("small", small), ("forest", forest)):
        reply = await mesh.v2.ModelInfer(_request(model_id))  # no header: model_name only
        assert reply.model_name == model_id
        labels = next(iter(response_arrays(reply).values()))
        assert labels.ravel().tolist() == _expected(model_file).tolist()
    assert await _index(mlserver) == ["forest", "small"]

    await mesh.mesh.unregisterModel(mm.UnregisterModelRequest(modelId="small"))
    assert await _index(mlserver) == ["forest"]


async def test_least_recently_used_model_is_evicted_and_comes_back(
    mlserver: RunningServer, start_adapter: StartAdapter, start_mesh_on: StartMesh, tmp_path: Path
) -> None:
    models = {name: write_sklearn(tmp_path / "models" / name) for name in ("a", "b")}
    size = int(models["a"].stat().st_size * 1.25)
    # room for one of the two models, not both
    adapter = await start_adapter("mlserver", mlserver, CONTAINER_MEM_REQ_BYTES=str(size * 3 // 2))
    mesh = await start_mesh_on(adapter)
    for name in models:
        await mesh.mesh.registerModel(
            mm.RegisterModelRequest(modelId=name, modelInfo=mm.ModelInfo(type="sklearn", path=name))
        )
    await mesh.v2.ModelInfer(_request("a"))
    assert await _index(mlserver) == ["a"]
    await mesh.v2.ModelInfer(_request("b"))  # no room: a, the least recently used, goes
    assert await _index(mlserver) == ["b"]
    reply = await mesh.v2.ModelInfer(_request("a"))  # loaded again on demand
    labels = next(iter(response_arrays(reply).values()))
    assert labels.ravel().tolist() == _expected(models["a"]).tolist()
    assert await _index(mlserver) == ["a"]


async def test_corrupt_model_fails_with_mlservers_message(
    mlserver: RunningServer, start_adapter: StartAdapter, start_mesh_on: StartMesh
) -> None:
    adapter = await start_adapter("mlserver", mlserver)
    broken = _models(adapter) / "broken"
    broken.mkdir(parents=True)
    (broken / "model.joblib").write_bytes(b"not a pickle at all")
    mesh = await start_mesh_on(adapter)
    status = await mesh.mesh.registerModel(
        mm.RegisterModelRequest(
            modelId="broken",
            modelInfo=mm.ModelInfo(type="sklearn", path="broken"),
            loadNow=True,
            sync=True,
        )
    )
    assert status.status == Status.LOADING_FAILED
    message = " ".join(status.errors)
    # MLServer's own words: joblib's unpickling error, as MLServer reported it
    assert "MLServer could not load model broken" in message
    assert "KeyError" in message
    assert await _index(mlserver) == []
    assert list(mlserver.repository.iterdir()) == []


async def test_model_directory_with_its_own_settings(
    mlserver: RunningServer, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter("mlserver", mlserver)
    directory = _models(adapter) / "own"
    model_file = write_sklearn(directory, name="weights.joblib")
    # a name the adapter replaces, and a relative uri it resolves in the model's directory
    settings = {
        "name": "whatever",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./weights.joblib"},
    }
    (directory / "model-settings.json").write_text(json.dumps(settings))
    await adapter.stub.loadModel(
        mr.LoadModelRequest(modelId="own-1", modelType="rt:mlserver", modelPath="own")
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mlserver.grpc_port}") as channel:
        reply = await v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(_request("own-1"))
    labels = next(iter(response_arrays(reply).values()))
    assert labels.ravel().tolist() == _expected(model_file).tolist()


async def test_requests_it_cannot_serve(
    mlserver: RunningServer, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter("mlserver", mlserver)
    write_sklearn(_models(adapter) / "digits")
    cases = [
        # no MLServer runtime for the type, and no model-settings.json to name one
        ("onnx", "digits", grpc.StatusCode.INVALID_ARGUMENT, "no known implementation"),
        ("sklearn", "../outside", grpc.StatusCode.INVALID_ARGUMENT, "outside the models root"),
        ("sklearn", "missing", grpc.StatusCode.FAILED_PRECONDITION, "does not exist"),
    ]
    for model_type, path, code, words in cases:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await adapter.stub.loadModel(
                mr.LoadModelRequest(modelId="x", modelType=model_type, modelPath=path)
            )
        assert failed.value.code() == code, path
        assert words in (failed.value.details() or ""), path
    assert await _index(mlserver) == []


async def test_model_in_s3_is_pulled_served_and_removed(
    mlserver: RunningServer,
    start_adapter: StartAdapter,
    start_mesh_on: StartMesh,
    s3_server: S3Server,
    tmp_path: Path,
) -> None:
    bucket = s3_server.new_bucket()
    model_file = write_sklearn(tmp_path / "upload")
    s3_server.upload(bucket, "digits/model.joblib", model_file)
    config = tmp_path / "storage-config"
    write_storage_config(config, "models", s3_server.entry(bucket))
    cache = tmp_path / "cache"
    adapter = await start_adapter(
        "mlserver", mlserver, STORAGE_CONFIG_DIR=str(config), MM_MODEL_CACHE_DIR=str(cache)
    )
    mesh = await start_mesh_on(adapter)
    status = await mesh.mesh.registerModel(
        mm.RegisterModelRequest(
            modelId="from-s3",
            modelInfo=mm.ModelInfo(
                type="sklearn", path="digits/model.joblib", key='{"storage_key": "models"}'
            ),
            loadNow=True,
            sync=True,
        )
    )
    assert status.status == Status.LOADED, status.errors
    pulled = list(cache.rglob("model.joblib"))
    assert [p.read_bytes() for p in pulled] == [model_file.read_bytes()]
    reply = await mesh.v2.ModelInfer(_request("from-s3"))
    labels = next(iter(response_arrays(reply).values()))
    assert labels.ravel().tolist() == _expected(model_file).tolist()
    size = await adapter.stub.modelSize(mr.ModelSizeRequest(modelId="from-s3"))
    assert size.sizeInBytes == int(model_file.stat().st_size * 1.25)

    await mesh.mesh.unregisterModel(mm.UnregisterModelRequest(modelId="from-s3"))
    assert list(cache.rglob("model.joblib")) == []
    assert await _index(mlserver) == []

    # a key the storage config does not have: the storage's message, MLServer never asked
    missing = await mesh.mesh.registerModel(
        mm.RegisterModelRequest(
            modelId="nowhere",
            modelInfo=mm.ModelInfo(type="sklearn", path="x", key='{"storage_key": "other"}'),
            loadNow=True,
            sync=True,
        )
    )
    assert missing.status == Status.LOADING_FAILED
    assert "storage key 'other'" in " ".join(missing.errors)
