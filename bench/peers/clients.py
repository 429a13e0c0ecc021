"""The client side, the same for every system: one small digits model (tests/support/models),
fanned out under many ids; one digits row as a V2 gRPC request or a V2 JSON body; a gRPC
and an HTTP caller that raise on anything but success.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import aiohttp
import grpc

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.runtimes.tensors import build_infer_request
from tests.support.models import digits, write_sklearn

INFER = "/inference.GRPCInferenceService/ModelInfer"
MODEL_FILE = "model.joblib"


def write_models(models_root: Path, model_ids: list[str]) -> None:
    """``<root>/<id>/model.joblib`` for every id: hard links to one trained LogisticRegression
    (so each id is its own path, and a system loads each as its own model)."""
    source = write_sklearn(models_root / "_source")
    for model_id in model_ids:
        folder = models_root / model_id
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / MODEL_FILE
        if not target.exists():
            os.link(source, target)


def model_path(model_id: str) -> str:
    """The model's path relative to the models root (what the mesh is told)."""
    return f"{model_id}/{MODEL_FILE}"


def grpc_request(model_id: str) -> bytes:
    """A serialized ModelInfer request for one digits row."""
    row = digits()[0][:1]
    return build_infer_request(model_id, {"x": row}).SerializeToString()


def json_body() -> bytes:
    """The same row as a KServe V2 JSON body."""
    row = digits()[0][:1]
    tensor = {
        "name": "x",
        "shape": list(row.shape),
        "datatype": "FP32",
        "data": row.ravel().tolist(),
    }
    return json.dumps({"inputs": [tensor]}).encode()


class GrpcInfer:
    """ModelInfer over one channel with pre-serialized requests."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._call = channel.unary_unary(INFER)

    async def __call__(self, request: bytes) -> v2.ModelInferResponse:
        return v2.ModelInferResponse.FromString(await self._call(request, timeout=60))


async def post_json(session: aiohttp.ClientSession, url: str, body: bytes) -> dict:
    async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status} from {url}: {(await r.text())[:200]}")
        return await r.json()


def http_session(concurrency: int) -> aiohttp.ClientSession:
    """A session with a connection per request in flight (keep-alive, no proxies)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, force_close=False),
        timeout=aiohttp.ClientTimeout(total=60),
    )
