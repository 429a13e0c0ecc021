"""The cache and the work queue: status-only changes, latest wins, one pass per object."""

from __future__ import annotations

import asyncio

from modelmesh.controller.kube import INFERENCE_SERVICES, SERVING_RUNTIMES
from modelmesh.controller.watching import Cache, Key, WorkQueue, key_of


def _obj(name: str, spec: int = 1, status: str | None = None, ns: str = "ns") -> dict:
    obj: dict = {"metadata": {"name": name, "namespace": ns}, "spec": {"v": spec}}
    if status is not None:
        obj["status"] = {"s": status}
    return obj


def test_cache_reports_changes_but_not_status_only_ones() -> None:
    cache = Cache()
    key = key_of(INFERENCE_SERVICES, _obj("a"))
    assert cache.put(key, _obj("a"))
    assert not cache.put(key, _obj("a", status="Loaded"))
    assert cache.get(key) == _obj("a", status="Loaded")
    assert cache.put(key, _obj("a", spec=2))
    assert cache.put(key, None) and not cache.put(key, None)


def test_full_list_names_listed_and_vanished_keys_per_scope() -> None:
    cache = Cache()
    cache.replace(INFERENCE_SERVICES, None, [_obj("a"), _obj("b"), _obj("c", ns="other")])
    cache.put(key_of(SERVING_RUNTIMES, _obj("rt")), _obj("rt"))
    woken = cache.replace(INFERENCE_SERVICES, "ns", [_obj("b")])
    assert sorted(name for _, _, name in woken) == ["a", "b"]
    assert [k[2] for k in cache.keys(INFERENCE_SERVICES)] == ["b", "c"]
    assert [o["metadata"]["name"] for o in cache.objects(SERVING_RUNTIMES, "ns")] == ["rt"]


async def test_queue_runs_one_pass_at_a_time_and_coalesces_wakes() -> None:
    key: Key = (INFERENCE_SERVICES, "ns", "a")
    running = 0
    passes: list[int] = []
    release = asyncio.Event()

    async def handle(_: Key) -> float | None:
        nonlocal running
        running += 1
        assert running == 1
        passes.append(len(passes))
        await release.wait()
        running -= 1
        return None

    queue = WorkQueue(handle, workers=4)
    queue.submit(key)
    await asyncio.sleep(0.01)
    for _ in range(5):  # five events during the first pass: one more pass, not five
        queue.submit(key)
    release.set()
    await asyncio.sleep(0.05)
    assert passes == [0, 1]
    await queue.close()


async def test_queue_requeues_after_the_returned_delay_and_survives_errors() -> None:
    key: Key = (INFERENCE_SERVICES, "ns", "a")
    calls: list[float] = []

    async def handle(_: Key) -> float | None:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 1:
            raise RuntimeError("boom")  # retried after RETRY_S
        return 0.05 if len(calls) < 4 else None

    queue = WorkQueue(handle, workers=1)
    queue.submit(key)
    for _ in range(60):
        if len(calls) >= 4:
            break
        await asyncio.sleep(0.1)
    assert len(calls) == 4
    assert calls[1] - calls[0] >= 1.5  # the error's back-off
    assert 0.04 <= calls[3] - calls[2] < 1.0
    await asyncio.sleep(0.2)
    assert len(calls) == 4  # None: no more passes
    await queue.close()


async def test_an_earlier_wake_replaces_a_later_timer() -> None:
    key: Key = (INFERENCE_SERVICES, "ns", "a")
    done = asyncio.Event()

    async def handle(_: Key) -> float | None:
        done.set()
        return None

    queue = WorkQueue(handle, workers=1)
    queue.submit(key, delay=60)
    queue.submit(key, delay=0.01)
    await asyncio.wait_for(done.wait(), 1)
    await queue.close()
