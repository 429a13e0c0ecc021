"""``/ready`` and ``/live`` over real HTTP, and what makes an instance not ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.kv.store import KeyValue
from modelmesh.mesh.probes import Readiness, keep_health
from tests.mesh.conftest import StartMesh


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_probes_answer_and_follow_shutdown(
    start: StartMesh, http: aiohttp.ClientSession
) -> None:
    app = await start()
    assert app.front is not None
    base = f"http://127.0.0.1:{app.front.probe_port}"
    for path in ("/ready", "/live"):
        async with http.get(base + path) as reply:
            assert reply.status == 200, await reply.text()
    app.front.readiness.draining = True
    async with http.get(base + "/ready") as reply:
        assert reply.status == 503
        assert "shutting down" in await reply.text()
    async with http.get(base + "/live") as reply:
        assert reply.status == 200


async def test_an_unreachable_store_is_not_ready(tmp_path: Path) -> None:
    store = await EmbeddedStore.open(tmp_path / "kv.sqlite3")
    readiness = Readiness(store, probe_key="mm/registry/")
    assert await readiness.check() == [] and readiness.is_ready()
    await store.close()
    (problem,) = await readiness.check()
    assert problem.startswith("the KV store is not reachable")
    assert not readiness.is_ready()


class _StuckStore(EmbeddedStore):
    """A real store whose reads never answer (a partitioned etcd, as the probe sees it)."""

    async def get(self, key: str) -> KeyValue | None:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_store_that_does_not_answer_is_not_ready(tmp_path: Path) -> None:
    store = await _StuckStore.open(tmp_path / "kv.sqlite3")
    try:
        readiness = Readiness(store, probe_key="mm/registry/", timeout_s=0.05)
        assert await readiness.check() == ["the KV store did not answer within 0.05 s"]
    finally:
        await store.close()


async def test_the_health_loop_can_always_be_cancelled() -> None:
    """Stopping must not hang whatever point the loop's readiness check has reached
    (on 3.11 asyncio.wait_for loses a cancellation that lands as its inner call ends)."""
    store = await EmbeddedStore.open(None)
    readiness = Readiness(store, probe_key="mm/registry/")
    statuses: list[int] = []

    async def record(status: int) -> None:
        statuses.append(status)

    try:
        for steps in range(12):
            task = asyncio.create_task(keep_health(readiness, record, interval_s=0.01))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.wait({task}, timeout=5)
            lost = not task.done()
            while not task.done():  # a lost cancellation: stop the loop for good
                task.cancel()
                await asyncio.sleep(0.001)
            assert not lost, f"the cancellation was lost {steps} steps into the loop"
            assert task.cancelled()
    finally:
        await store.close()
    assert statuses  # the loop did report, at some of those points
