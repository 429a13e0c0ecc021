"""The TorchServe adapter against a real TorchServe (0.12.0 on the machine's JDK 17, in its own
venv with the CPU build of torch, which its worker imports), with a mesh in front.

The model archive is made at test time by the real ``torch-model-archiver``: a handler that
classifies digits with a logistic regression's weights (trained at test time, ``.npz``).
Requests go through the mesh as TorchServe's own gRPC ``Predictions`` with only
``model_name`` set, encoded here by hand (TorchServe's Python stubs are not installed).

Marked slow: the first run makes TorchServe's virtual environment (about 4.5 minutes here,
network-bound; torch itself installs from a wheel on disk); later runs reuse it.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import joblib
import numpy as np
import pytest

from modelmesh.mesh.dataplane import extract_id
from modelmesh.protos import model_mesh_pb2 as mm
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.adapters.torchserve import PREDICTIONS
from tests.runtimes.adapters.conftest import StartAdapter, StartMesh
from tests.runtimes.adapters.servers import RunningServer, archive_model
from tests.support.models import digits, write_sklearn

pytestmark = pytest.mark.slow

Status = mm.ModelStatusInfo.ModelStatus
ROWS = 5

HANDLER = """import json
import os

import numpy as np

_weights = None


def handle(data, context):
    global _weights
    if _weights is None:
        npz = np.load(os.path.join(context.system_properties["model_dir"], "weights.npz"))
        _weights = npz["coef"], npz["intercept"]
    if data is None:
        return None
    coef, intercept = _weights
    replies = []
    for row in data:
        x = np.asarray(json.loads(bytes(row["data"])), dtype=np.float32)
        replies.append(json.dumps(np.argmax(x @ coef.T + intercept, axis=1).tolist()))
    return replies
"""


def write_archive(directory: Path) -> np.ndarray:
    """``directory/digits.mar`` with the handler and its weights; the expected labels."""
    source = directory.parent / f"{directory.name}-src"
    trained = joblib.load(write_sklearn(source))
    weights = source / "weights.npz"
    np.savez(
        weights,
        coef=trained.coef_.astype(np.float32),
        intercept=trained.intercept_.astype(np.float32),
    )
    handler = source / "handler.py"
    handler.write_text(HANDLER)
    archive_model("digits", handler, [weights], directory)
    return trained.predict(digits()[0][:ROWS])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def predictions_request(model_name: str, rows: np.ndarray) -> bytes:
    """``PredictionsRequest{model_name = 1, map<string, bytes> input = 3}``, input "data"."""
    entry = _field(1, b"data") + _field(2, json.dumps(rows.tolist()).encode())
    return _field(1, model_name.encode()) + _field(3, entry)


async def _registered(torchserve: RunningServer) -> list[str]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{torchserve.http_url}/models") as response,
    ):
        return sorted(m["modelName"] for m in (await response.json())["models"])


async def test_mesh_predicts_through_torchserve(
    torchserve: RunningServer, start_adapter: StartAdapter, start_mesh_on: StartMesh
) -> None:
    adapter = await start_adapter("torchserve", torchserve)
    expected = write_archive(adapter.settings.models_root / "digits")
    status = await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    assert status.status == mr.RuntimeStatusResponse.READY
    assert list(status.methodInfos) == [PREDICTIONS]
    assert status.runtimeVersion.startswith("torchserve/0.")
    mesh = await start_mesh_on(adapter)
    registered = await mesh.mesh.registerModel(
        mm.RegisterModelRequest(
            modelId="digits__isvc-1",
            modelInfo=mm.ModelInfo(type="rt:torchserve", path="digits"),
            loadNow=True,
            sync=True,
        )
    )
    assert registered.status == Status.LOADED, registered.errors
    assert await _registered(torchserve) == ["digits__isvc-1"]

    predict = mesh.channel.unary_unary(f"/{PREDICTIONS}")
    reply = await predict(predictions_request("digits__isvc-1", digits()[0][:ROWS]))
    # PredictionResponse{bytes prediction = 1}: the handler's JSON
    assert json.loads(extract_id(reply, (1,)) or "null") == expected.tolist()

    await mesh.mesh.unregisterModel(mm.UnregisterModelRequest(modelId="digits__isvc-1"))
    assert await _registered(torchserve) == []
    assert list(torchserve.repository.iterdir()) == []


async def test_broken_archive_reports_torchserves_message(
    torchserve: RunningServer, start_adapter: StartAdapter
) -> None:
    adapter = await start_adapter("torchserve", torchserve)
    broken = adapter.settings.models_root / "broken.mar"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not a zip archive")
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await adapter.stub.loadModel(
            mr.LoadModelRequest(modelId="broken", modelType="rt:torchserve", modelPath="broken.mar")
        )
    message = failed.value.details() or ""
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    # TorchServe's own words (0.12.0: it takes the file, then its worker cannot start)
    assert message.startswith("TorchServe could not register model broken: Failed to start")
    assert await _registered(torchserve) == []
    assert list(torchserve.repository.iterdir()) == []
