"""Leader election over a Lease in the emulated API: one holder, takeover, loss."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from kubernetes.aio import client as k8s

from modelmesh.controller.leader import LeaderElector, LeaseTiming
from tests.controller.conftest import NAMESPACE, Api

FAST = LeaseTiming(duration_s=1.0, renew_deadline_s=0.6, retry_s=0.1)


@pytest.fixture
async def elector(api: Api) -> AsyncIterator[Callable[[str], LeaderElector]]:
    made: list[LeaderElector] = []

    def _make(identity: str) -> LeaderElector:
        made.append(
            LeaderElector(
                k8s.ApiClient(k8s.Configuration(host=api.url)),
                namespace=NAMESPACE,
                identity=identity,
                timing=FAST,
            )
        )
        return made[-1]

    yield _make
    for one in made:
        await one.close()


async def _holder(api: Api) -> str | None:
    async with k8s.ApiClient(k8s.Configuration(host=api.url)) as client:
        lease = await k8s.CoordinationV1Api(client).read_namespaced_lease(
            "modelmesh-controller-leader-lock", NAMESPACE
        )
    return lease.spec.holder_identity if lease.spec else None


async def test_one_holder_and_a_takeover_after_release(
    api: Api, elector: Callable[[str], LeaderElector]
) -> None:
    a, b = elector("a"), elector("b")
    assert await a.try_acquire()
    assert await a.try_acquire()  # renewing
    assert not await b.try_acquire()
    assert await _holder(api) == "a"
    await a.release()
    assert await b.try_acquire()
    assert await _holder(api) == "b"
    assert not await a.try_acquire()


async def test_an_expired_lease_is_taken_over(
    api: Api, elector: Callable[[str], LeaderElector]
) -> None:
    a, b = elector("a"), elector("b")
    await a.acquire()
    waiting = asyncio.create_task(b.acquire())
    await asyncio.sleep(0.5)
    assert not waiting.done()  # a's lease is still fresh (a stopped renewing, not released)
    await asyncio.wait_for(waiting, 3)
    assert await _holder(api) == "b"


async def test_the_holder_notices_a_lost_lease(
    api: Api, elector: Callable[[str], LeaderElector]
) -> None:
    a, b = elector("a"), elector("b")
    await a.acquire()
    holding = asyncio.create_task(a.hold())
    await asyncio.sleep(0.3)
    assert not holding.done()  # renewing keeps it
    holding.cancel()
    await asyncio.sleep(1.2)  # a stopped renewing: b takes it, then a cannot renew
    assert await b.try_acquire()
    await asyncio.wait_for(a.hold(), 3)  # returns: the renew deadline passed
    assert await _holder(api) == "b"
