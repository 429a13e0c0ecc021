"""The mesh's bounds (settings.LimitSettings, message and header sizes): past each, a request
ends at once with RESOURCE_EXHAUSTED (REST: 429 or 413) naming the limit, requests within
it are served, and nothing waits in a queue that can grow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import pytest

from modelmesh.mesh.app import MeshApp
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import Clients, StartMesh
from tests.support.gated_models import GatedModel

GATED = (
    "gated=tests.support.gated_models:GatedModel,sleepy=tests.runtimes.custom_models:SleepyModel"
)


@pytest.fixture
def gate() -> AsyncIterator[type[GatedModel]]:
    GatedModel.close()
    yield GatedModel
    GatedModel.gate.set()  # nothing stays waiting after the test


@pytest.fixture
def custom_models(mesh_models: Path) -> Path:
    (mesh_models / "gated").mkdir()
    (mesh_models / "gated" / "model.bin").write_bytes(b"gate")
    for i in range(4):
        (mesh_models / f"sleepy-{i}").write_text("0.5")
    return mesh_models


async def loaded_gated(start: StartMesh, clients: Callable[[MeshApp], Clients], **env: str):
    app = await start(MM_CUSTOM_MODEL_CLASSES=GATED, **env)
    c = clients(app)
    await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId="gated",
            modelInfo=pb.ModelInfo(type="gated", path="gated"),
            loadNow=True,
            sync=True,
        )
    )
    assert app.loader.copies["gated"].loaded
    return app, c


async def infer(c: Clients) -> v2.ModelInferResponse:
    request = build_infer_request("gated", {"x": np.array([1.0, 2.0])})
    reply: v2.ModelInferResponse = await c.v2.ModelInfer(request, timeout=30)
    return reply


async def until(condition: Callable[[], bool], what: str) -> None:
    try:
        async with asyncio.timeout(10):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not so within 10 s: {what}") from None


async def test_per_copy_limit_queues_a_bounded_number(
    start: StartMesh, clients, custom_models: Path, gate: type[GatedModel]
) -> None:
    app, c = await loaded_gated(
        start, clients, MM_MAX_INFLIGHT_PER_MODEL_COPY="2", MM_MAX_QUEUE_PER_MODEL_COPY="2"
    )
    copy = app.loader.copies["gated"]
    held = [asyncio.create_task(infer(c)) for _ in range(4)]
    await until(lambda: copy.inflight == 2 and len(copy.waiting or ()) == 2, "2 run, 2 wait")
    # the model itself sees two at most: the other two wait in the mesh
    await until(lambda: gate.inside == 2, "two predictions inside the model")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await infer(c)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MM_MAX_QUEUE_PER_MODEL_COPY" in (refused.value.details() or "")
    assert "limit of 2" in (refused.value.details() or "")

    gate.gate.set()
    replies = await asyncio.gather(*held)
    assert all(r.model_name == "gated" for r in replies)
    assert copy.inflight == 0 and not copy.waiting


async def test_a_cancelled_waiter_gives_its_turn_back(
    start: StartMesh, clients, custom_models: Path, gate: type[GatedModel]
) -> None:
    app, c = await loaded_gated(
        start, clients, MM_MAX_INFLIGHT_PER_MODEL_COPY="1", MM_MAX_QUEUE_PER_MODEL_COPY="1"
    )
    copy = app.loader.copies["gated"]
    running = asyncio.create_task(infer(c))
    await until(lambda: copy.inflight == 1, "one running")
    request = build_infer_request("gated", {"x": np.array([1.0])})
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await c.v2.ModelInfer(request, timeout=0.3)  # waits in the queue, then gives up
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    await until(lambda: not copy.waiting, "the waiter left the queue")
    gate.gate.set()
    await running
    assert copy.inflight == 0
    assert (await infer(c)).model_name == "gated"


async def test_per_instance_limit_over_grpc_and_rest(
    start: StartMesh, clients, custom_models: Path, gate: type[GatedModel]
) -> None:
    app, c = await loaded_gated(start, clients, MM_MAX_INFLIGHT_REQUESTS="3")
    held = [asyncio.create_task(infer(c)) for _ in range(3)]
    await until(lambda: app.loader.copies["gated"].inflight == 3, "three in flight")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await infer(c)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MM_MAX_INFLIGHT_REQUESTS" in (refused.value.details() or "")

    rest = app.front.rest_port if app.front else 0
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1.0]}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{rest}/v2/models/gated/infer", json=body) as reply,
    ):
        assert reply.status == 429
        assert "MM_MAX_INFLIGHT_REQUESTS" in (await reply.json())["error"]

    gate.gate.set()
    await asyncio.gather(*held)
    assert (await infer(c)).model_name == "gated"


async def test_load_queue_is_bounded(
    start: StartMesh, clients, custom_models: Path, gate: type[GatedModel]
) -> None:
    app = await start(MM_CUSTOM_MODEL_CLASSES=GATED, LOADING_CONCURRENCY="1", MM_MAX_LOAD_QUEUE="1")
    c = clients(app)
    for i in range(3):
        await c.mesh.registerModel(
            pb.RegisterModelRequest(
                modelId=f"sleepy-{i}", modelInfo=pb.ModelInfo(type="sleepy", path=f"sleepy-{i}")
            )
        )
    # one load runs, one waits for the loading slot, the third is refused
    for i in range(2):
        await c.mesh.ensureLoaded(pb.EnsureLoadedRequest(modelId=f"sleepy-{i}"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await c.mesh.ensureLoaded(pb.EnsureLoadedRequest(modelId="sleepy-2"))
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "MM_MAX_LOAD_QUEUE" in (refused.value.details() or "")
    # the refusal changed nothing: the model is registered, and loads once there is room
    await until(lambda: app.loader.pending_loads == 0, "the loads under way ended")
    status = await c.mesh.ensureLoaded(pb.EnsureLoadedRequest(modelId="sleepy-2", sync=True))
    assert status.status == pb.ModelStatusInfo.LOADED


async def test_message_and_header_sizes(start: StartMesh, clients, mesh_models: Path) -> None:
    app = await start(MM_SVC_GRPC_MAX_MSG_SIZE="65536", MM_SVC_GRPC_MAX_HEADERS_SIZE="4096")
    c = clients(app)
    big = build_infer_request("digits", {"x": np.zeros((300, 64), dtype=np.float32)})
    assert big.ByteSize() > 65536
    with pytest.raises(grpc.aio.AioRpcError) as too_big:
        await c.v2.ModelInfer(big, timeout=10)
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "65536" in (too_big.value.details() or "")

    # headers: refused every time past the limit (not at random, as grpc's soft limit
    # alone would), and passed below it
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as too_many:
            await c.v2.ServerLive(
                v2.ServerLiveRequest(), metadata=(("x-filler", "a" * 4500),), timeout=10
            )
        assert too_many.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "4096" in (too_many.value.details() or "")
    live = await c.v2.ServerLive(
        v2.ServerLiveRequest(), metadata=(("x-filler", "a" * 3000),), timeout=10
    )
    assert live.live

    rest = app.front.rest_port if app.front else 0
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{rest}/v2/models/digits/infer", data=b"{" + b" " * 70_000 + b"}"
        ) as reply,
    ):
        assert reply.status == 413
        assert "65536" in (await reply.json())["error"]
    # the mesh answers normally afterwards
    live = await c.v2.ServerLive(v2.ServerLiveRequest(), timeout=5)
    assert live.live
