"""The Triton adapter against a real ``tritonserver`` (2.51.0 from nvidia-pytriton 0.7.0, in its
own venv), with a mesh in front. The wheel ships only the Python backend, so the test model
is a Python-backend model: a logistic regression trained at test time, its weights in an
``.npz`` file, in Triton's own layout (``config.pbtxt`` + version directory).

Marked slow: the first run makes pytriton's virtual environment (about 3.5 minutes here,
network-bound); later runs reuse it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

import grpc
import joblib
import numpy as np
import pytest

from modelmesh.protos import model_mesh_pb2 as mm
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.runtimes.adapters.conftest import StartAdapter, StartMesh
from tests.runtimes.adapters.servers import RunningServer
from tests.support.models import digits, write_sklearn

pytestmark = pytest.mark.slow

Status = mm.ModelStatusInfo.ModelStatus
ROWS = 5

CONFIG = """name: "lin"
backend: "python"
max_batch_size: 0
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 64 ] } ]
output [ { name: "label" data_type: TYPE_INT64 dims: [ -1 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
"""

MODEL_PY = """import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        weights = np.load(os.path.join(os.path.dirname(__file__), "weights.npz"))
        self.coef, self.intercept = weights["coef"], weights["intercept"]

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            label = np.argmax(x @ self.coef.T + self.intercept, axis=1).astype(np.int64)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("label", label)]))
        return responses
"""


def write_triton_model(directory: Path) -> np.ndarray:
    """A Python-backend digits classifier in Triton's layout; its expected labels."""
    trained = joblib.load(write_sklearn(directory.parent / f"{directory.name}-sklearn"))
    version = directory / "1"
    version.mkdir(parents=True)
    (directory / "config.pbtxt").write_text(CONFIG)
    (version / "model.py").write_text(MODEL_PY)
    np.savez(
        version / "weights.npz",
        coef=trained.coef_.astype(np.float32),
        intercept=trained.intercept_.astype(np.float32),
    )
    return trained.predict(digits()[0][:ROWS])


async def _ready_models(triton: RunningServer) -> list[str]:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        url = f"{triton.http_url}/v2/repository/index"
        async with session.post(url, json={"ready": True}) as response:
            return sorted(entry["name"] for entry in await response.json())


async def _until_gone(triton: RunningServer, model_id: str) -> None:
    """Triton finishes an unload in the background; wait for it (bounded)."""
    for _ in range(100):
        if model_id not in await _ready_models(triton):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{model_id} still loaded in Triton")


async def test_mesh_predicts_through_triton(
    triton: RunningServer, start_adapter: StartAdapter, start_mesh_on: StartMesh
) -> None:
    adapter = await start_adapter("triton", triton)
    expected = write_triton_model(adapter.settings.models_root / "lin")
    status = await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    assert status.status == mr.RuntimeStatusResponse.READY
    assert status.runtimeVersion.startswith("triton/")
    mesh = await start_mesh_on(adapter)
    registered = await mesh.mesh.registerModel(
        mm.RegisterModelRequest(
            modelId="lin__isvc-1",
            modelInfo=mm.ModelInfo(type="rt:triton", path="lin"),
            loadNow=True,
            sync=True,
        )
    )
    assert registered.status == Status.LOADED, registered.errors
    # Triton knows the model by the mesh's id: the adapter rewrote the config's name
    config = (triton.repository / "lin__isvc-1" / "config.pbtxt").read_text()
    assert config.startswith('name: "lin__isvc-1"\n') and 'name: "lin"' not in config
    assert await _ready_models(triton) == ["lin__isvc-1"]

    request = build_infer_request("lin__isvc-1", {"x": np.asarray(digits()[0][:ROWS])})
    reply = await mesh.v2.ModelInfer(request)  # no header: model_name only
    assert response_arrays(reply)["label"].tolist() == expected.tolist()

    await mesh.mesh.unregisterModel(mm.UnregisterModelRequest(modelId="lin__isvc-1"))
    await _until_gone(triton, "lin__isvc-1")
    assert not (triton.repository / "lin__isvc-1").exists()


async def test_model_that_fails_to_initialize_reports_tritons_message(
    triton: RunningServer, start_adapter: StartAdapter, start_mesh_on: StartMesh
) -> None:
    adapter = await start_adapter("triton", triton)
    broken = adapter.settings.models_root / "broken"
    write_triton_model(broken)
    (broken / "1" / "weights.npz").unlink()  # initialize() cannot find its weights
    mesh = await start_mesh_on(adapter)
    status = await mesh.mesh.registerModel(
        mm.RegisterModelRequest(
            modelId="broken",
            modelInfo=mm.ModelInfo(type="rt:triton", path="broken"),
            loadNow=True,
            sync=True,
        )
    )
    assert status.status == Status.LOADING_FAILED
    message = " ".join(status.errors)
    assert "Triton could not load model broken" in message
    assert "weights.npz" in message  # the Python backend's error, as Triton reported it
    assert await _ready_models(triton) == []
    assert not (triton.repository / "broken").exists()


async def test_model_ids_triton_cannot_name_are_refused(
    triton: RunningServer, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter("triton", triton)
    write_triton_model(adapter.settings.models_root / "lin")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await adapter.stub.loadModel(
            mr.LoadModelRequest(modelId="team/lin", modelType="rt:triton", modelPath="lin")
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot be a directory name" in (refused.value.details() or "")
    # no config.pbtxt and no backend Triton would use for the type: refused before Triton
    (adapter.settings.models_root / "plain").mkdir()
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await adapter.stub.loadModel(
            mr.LoadModelRequest(modelId="plain", modelType="sklearn", modelPath="plain")
        )
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no known backend for model type 'sklearn'" in (unknown.value.details() or "")


SLOW_MODEL_PY = """import time

import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        with open({log!r}, "a") as log:
            log.write(f"start {{args['model_name']}} {{time.time()}}\\n")
        time.sleep({seconds})
        with open({log!r}, "a") as log:
            log.write(f"end {{args['model_name']}} {{time.time()}}\\n")

    def execute(self, requests):
        return []
"""


def write_slow_model(directory: Path, log: Path, seconds: float) -> None:
    """A model whose initialize takes ``seconds`` and logs when it ran."""
    (directory / "1").mkdir(parents=True)
    (directory / "config.pbtxt").write_text(CONFIG)
    (directory / "1" / "model.py").write_text(SLOW_MODEL_PY.format(log=str(log), seconds=seconds))


def _runs(log: Path) -> dict[str, list[tuple[float, float]]]:
    """Model name -> (start, end) of each initialize, from the log."""
    starts: dict[str, list[float]] = {}
    runs: dict[str, list[tuple[float, float]]] = {}
    for line in log.read_text().splitlines():
        event, name, at = line.split()
        if event == "start":
            starts.setdefault(name, []).append(float(at))
        else:
            runs.setdefault(name, []).append((starts[name].pop(0), float(at)))
    return runs


async def test_loads_are_single_flight_one_at_a_time(
    triton: RunningServer, start_adapter: StartAdapter, tmp_path: Path
) -> None:
    log = tmp_path / "initialize.log"
    adapter = await start_adapter("triton", triton, LOADING_CONCURRENCY="1")
    for name in ("slow-a", "slow-b"):
        write_slow_model(adapter.settings.models_root / name, log, 1.0)
    await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())

    def load(model_id: str) -> Awaitable[mr.LoadModelResponse]:
        return adapter.stub.loadModel(
            mr.LoadModelRequest(modelId=model_id, modelType="rt:triton", modelPath=model_id)
        )

    # two callers of slow-a share one load; slow-b waits for a loading slot
    await asyncio.gather(load("slow-a"), load("slow-a"), load("slow-b"))
    runs = _runs(log)
    assert {name: len(r) for name, r in runs.items()} == {"slow-a": 1, "slow-b": 1}
    (a_start, a_end), (b_start, b_end) = runs["slow-a"][0], runs["slow-b"][0]
    assert a_end <= b_start or b_end <= a_start, runs  # never both at once
    assert await _ready_models(triton) == ["slow-a", "slow-b"]


async def test_a_load_past_the_timeout_is_deadline_exceeded_and_unloaded(
    triton: RunningServer, start_adapter: StartAdapter, tmp_path: Path
) -> None:
    log = tmp_path / "initialize.log"
    adapter = await start_adapter("triton", triton, LOADTIME_TIMEOUT="1000")
    write_slow_model(adapter.settings.models_root / "sleepy", log, 4.0)
    await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await adapter.stub.loadModel(
            mr.LoadModelRequest(modelId="sleepy", modelType="rt:triton", modelPath="sleepy")
        )
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "longer than 1000 ms (LOADTIME_TIMEOUT)" in (late.value.details() or "")
    # Triton finishes the load it had begun; the adapter's unload then takes it away
    for _ in range(150):
        if "end" in log.read_text() and await _ready_models(triton) == []:
            break
        await asyncio.sleep(0.1)
    assert "end" in log.read_text()
    assert await _ready_models(triton) == []


async def test_unload_during_a_load_abandons_it(
    triton: RunningServer, start_adapter: StartAdapter, tmp_path: Path
) -> None:
    log = tmp_path / "initialize.log"
    adapter = await start_adapter("triton", triton)
    write_slow_model(adapter.settings.models_root / "sleepy", log, 2.0)
    await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    loading = asyncio.ensure_future(
        adapter.stub.loadModel(
            mr.LoadModelRequest(modelId="sleepy", modelType="rt:triton", modelPath="sleepy")
        )
    )
    for _ in range(100):  # until Triton is initializing the model
        if log.exists():
            break
        await asyncio.sleep(0.1)
    await adapter.stub.unloadModel(mr.UnloadModelRequest(modelId="sleepy"))
    with pytest.raises(grpc.aio.AioRpcError) as abandoned:
        await loading
    assert abandoned.value.code() == grpc.StatusCode.ABORTED
    assert "unloaded while loading" in (abandoned.value.details() or "")
    for _ in range(100):
        if "end" in log.read_text() and await _ready_models(triton) == []:
            break
        await asyncio.sleep(0.1)
    assert await _ready_models(triton) == []
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await adapter.stub.modelSize(mr.ModelSizeRequest(modelId="sleepy"))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND
