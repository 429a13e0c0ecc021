"""KServe V2 over HTTP/JSON on a real mesh: aiohttp and tritonclient (a V2 client nobody
here wrote) as clients, vmodel names, the binary data extension, and every error's status."""

from __future__ import annotations

import json
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import tritonclient.http.aio as triton

from modelmesh.mesh.app import MeshApp
from modelmesh.protos import model_mesh_pb2 as pb
from tests.mesh.conftest import Clients, StartMesh
from tests.support.models import digits

ROWS = np.asarray(digits()[0][:4])
LABELS = digits()[1][:4].tolist()
ECHO_CLASSES = "echo=tests.runtimes.custom_models:EchoModel"


def _body(rows: np.ndarray = ROWS, **extra: object) -> dict[str, object]:
    tensor = {"name": "x", "shape": list(rows.shape), "datatype": "FP32", "data": rows.tolist()}
    return {"inputs": [tensor], **extra}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _mesh(start: StartMesh, clients, mesh_models: Path, **env: str) -> tuple[MeshApp, str]:
    (mesh_models / "echo").mkdir(exist_ok=True)
    (mesh_models / "echo" / "factor.txt").write_text("3")
    app = await start(MM_CUSTOM_MODEL_CLASSES=ECHO_CLASSES, **env)
    c: Clients = clients(app)
    for model_id, model_type, path in (
        ("digits", "sklearn", "sklearn"),
        ("echo", "echo", "echo/factor.txt"),
    ):
        await c.mesh.registerModel(
            pb.RegisterModelRequest(
                modelId=model_id, modelInfo=pb.ModelInfo(type=model_type, path=path)
            )
        )
    await c.mesh.setVModel(pb.SetVModelRequest(vModelId="alias", targetModelId="digits"))
    assert app.front is not None
    return app, f"http://127.0.0.1:{app.front.rest_port}"


async def test_json_round_trip_by_model_and_vmodel_name(
    start: StartMesh, clients, mesh_models: Path, http: aiohttp.ClientSession
) -> None:
    _, base = await _mesh(start, clients, mesh_models)
    for name in ("digits", "alias"):
        async with http.post(f"{base}/v2/models/{name}/infer", json=_body(id="r-1")) as reply:
            assert reply.status == 200
            assert reply.content_type == "application/json"
            doc = await reply.json()
        assert doc["model_name"] == "digits"  # the concrete model, as over gRPC
        assert doc["id"] == "r-1"
        (output,) = doc["outputs"]
        assert (output["name"], output["datatype"], output["shape"]) == ("predict", "INT64", [4])
        assert np.mean(np.array(output["data"]) == LABELS) >= 0.75
    # a version in the path is passed on; the built-in runtime serves the one it has
    async with http.post(f"{base}/v2/models/alias/versions/1/infer", json=_body()) as reply:
        assert reply.status == 200


async def test_metadata_health_and_readiness(
    start: StartMesh, clients, mesh_models: Path, http: aiohttp.ClientSession
) -> None:
    _, base = await _mesh(start, clients, mesh_models)
    async with http.get(f"{base}/v2") as reply:
        assert (await reply.json())["name"] == "modelmesh"
    async with http.get(f"{base}/v2/health/live") as reply:
        assert (reply.status, await reply.json()) == (200, {"live": True})
    async with http.get(f"{base}/v2/health/ready") as reply:
        assert (reply.status, await reply.json()) == (200, {"ready": True})
    # not loaded yet: not ready (V2: a 4xx), and asking does not load it
    async with http.get(f"{base}/v2/models/alias/ready") as reply:
        assert (reply.status, await reply.json()) == (400, {"name": "alias", "ready": False})
    async with http.get(f"{base}/v2/models/alias") as reply:  # metadata comes from the runtime
        assert reply.status == 200
        meta = await reply.json()
    assert meta["platform"] == "sklearn"
    assert [i["datatype"] for i in meta["inputs"]] == ["FP32"]
    assert "predict" in [o["name"] for o in meta["outputs"]]
    async with http.get(f"{base}/v2/models/alias/versions/7/ready") as reply:
        assert (reply.status, await reply.json()) == (200, {"name": "alias", "ready": True})


async def test_tritonclient_round_trip(start: StartMesh, clients, mesh_models: Path) -> None:
    app, _ = await _mesh(start, clients, mesh_models)
    assert app.front is not None
    client = triton.InferenceServerClient(url=f"127.0.0.1:{app.front.rest_port}")
    try:
        assert await client.is_server_live()
        assert await client.is_server_ready()
        assert (await client.get_server_metadata())["name"] == "modelmesh"
        for binary in (True, False):
            x = triton.InferInput("x", list(ROWS.shape), "FP32")
            x.set_data_from_numpy(ROWS, binary_data=binary)
            outputs = [
                triton.InferRequestedOutput("predict", binary_data=binary),
                triton.InferRequestedOutput("predict_proba", binary_data=not binary),
            ]
            result = await client.infer("alias", [x], outputs=outputs, request_id="t-1")
            assert result.get_response()["model_name"] == "digits"
            assert result.get_response()["id"] == "t-1"
            predicted = result.as_numpy("predict")
            assert predicted.dtype == np.int64
            assert np.mean(predicted == LABELS) >= 0.75
            probabilities = result.as_numpy("predict_proba")
            assert probabilities.shape == (4, 10)
            np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
        assert await client.is_model_ready("alias")
        assert (await client.get_model_metadata("digits"))["platform"] == "sklearn"
    finally:
        await client.close()


async def test_bytes_tensors_parameters_and_binary_outputs(
    start: StartMesh, clients, mesh_models: Path, http: aiohttp.ClientSession
) -> None:
    _, base = await _mesh(start, clients, mesh_models)
    body = {
        "parameters": {"mode": "fast", "n": 2, "binary_data_output": False},
        "inputs": [
            {"name": "x", "shape": [2], "datatype": "FP64", "data": [1.0, 2.5]},
            {"name": "words", "shape": [2], "datatype": "BYTES", "data": ["héllo", "wörld"]},
        ],
        "outputs": [
            {"name": "y", "parameters": {"binary_data": True}},
            {"name": "parameters"},
        ],
    }
    async with http.post(f"{base}/v2/models/echo/infer", json=body) as reply:
        assert reply.status == 200
        assert reply.content_type == "application/octet-stream"
        length = int(reply.headers["Inference-Header-Content-Length"])
        raw = await reply.read()
    doc = json.loads(raw[:length])
    y, params = doc["outputs"]
    assert y == {
        "name": "y",
        "datatype": "FP64",
        "shape": [2],
        "parameters": {"binary_data_size": 16},
    }
    assert np.frombuffer(raw[length:], "<f8").tolist() == [3.0, 7.5]
    # BYTES come back as strings; the extension's own parameters never reach the model
    assert params["datatype"] == "BYTES"
    assert params["data"] == ["mode='fast'", "n=2"]

    # the binary extension on the way in: FP64 then a length-prefixed BYTES tensor
    words = b"".join(struct.pack("<I", len(w)) + w for w in (b"a", b"bc"))
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 16},
                },
                {
                    "name": "w",
                    "shape": [2],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(words)},
                },
            ],
            "outputs": [{"name": "y"}],
        }
    ).encode()
    payload = header + np.array([1.0, 2.0], "<f8").tobytes() + words
    headers = {"Inference-Header-Content-Length": str(len(header))}
    async with http.post(f"{base}/v2/models/echo/infer", data=payload, headers=headers) as reply:
        assert reply.status == 200
        assert (await reply.json())["outputs"][0]["data"] == [3.0, 6.0]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/v2/models/digits/infer", b"{not json", 400, "not valid JSON"),
        ("/v2/models/digits/infer", {"instances": [[1, 2]]}, 400, '"inputs" list'),
        # three values for a shape of two
        (
            "/v2/models/digits/infer",
            {"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2, 3]}]},
            400,
            r"inputs\[0\]: 3 values do not fit shape \[2\]",
        ),
        # a well-formed tensor of the wrong shape for the model: the runtime says so
        ("/v2/models/digits/infer", _body(ROWS[:, :10]), 400, "cannot take this input"),
        ("/v2/models/nope/infer", _body(), 404, "'nope'"),
        ("/v2/models/nope", None, 404, "'nope'"),
        ("/v2/models/nope/ready", None, 404, "'nope'"),
        ("/v2/models/digits/infer", None, 405, "Method Not Allowed"),
        ("/v1/models/digits:predict", _body(), 404, "Not Found"),
    ],
)
async def test_errors_are_v2_json_with_the_right_status(
    start: StartMesh,
    clients,
    mesh_models: Path,
    http: aiohttp.ClientSession,
    path: str,
    body: object,
    status: int,
    message: str,
) -> None:
    _, base = await _mesh(start, clients, mesh_models)
    if body is None:
        call = http.get(base + path)
    elif isinstance(body, bytes):
        call = http.post(base + path, data=body)
    else:
        call = http.post(base + path, json=body)
    async with call as reply:
        assert reply.status == status
        doc = await reply.json()
    assert list(doc) == ["error"]
    assert re.search(message, doc["error"]), doc


async def test_bad_binary_framing_is_400(
    start: StartMesh, clients, mesh_models: Path, http: aiohttp.ClientSession
) -> None:
    _, base = await _mesh(start, clients, mesh_models)
    url = f"{base}/v2/models/echo/infer"
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "shape": [2],
                    "datatype": "FP64",
                    "parameters": {"binary_data_size": 16},
                }
            ]
        }
    ).encode()
    cases = [
        (header + b"\0" * 8, str(len(header)), "only 8 bytes of binary data"),
        (header + b"\0" * 24, str(len(header)), "8 bytes of binary data follow the JSON"),
        (header, "-1", "not a length within the body"),
        (header, str(len(header) + 1), "not a length within the body"),
    ]
    for payload, length, message in cases:
        headers = {"Inference-Header-Content-Length": length}
        async with http.post(url, data=payload, headers=headers) as reply:
            assert reply.status == 400
            assert message in (await reply.json())["error"]


async def test_oversized_body_is_413_and_the_server_lives(
    start: StartMesh, clients, mesh_models: Path, http: aiohttp.ClientSession
) -> None:
    _, base = await _mesh(start, clients, mesh_models, MM_SVC_GRPC_MAX_MSG_SIZE="4096")
    big = _body(np.zeros((64, 64), np.float32))
    async with http.post(f"{base}/v2/models/digits/infer", json=big) as reply:
        assert reply.status == 413
        assert "4096" in (await reply.json())["error"]
    async with http.post(f"{base}/v2/models/digits/infer", json=_body(ROWS[:1])) as reply:
        assert reply.status == 200
