"""The KVStore contract (mesh/kv/store.py), run against every backend in conftest.BACKENDS.

Tests use only the protocol and keep to their own ``prefix``, so that they also hold on a
shared etcd server; lease TTLs are short but waits are generous, since etcd rounds TTLs up.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable

import pytest

from modelmesh.mesh.kv.store import EventKind, KeyValue, KVError, KVStore, WatchEvent

PUT, DELETE = EventKind.PUT, EventKind.DELETE


async def must_put(store: KVStore, key: str, value: bytes, *, lease: int | None = None) -> int:
    revision = await store.put(key, value, lease=lease)
    assert revision is not None
    return revision


async def wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll ``check`` for up to 5 s: the protocol has nothing to wait on for these."""
    async with asyncio.timeout(5):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def is_absent(store: KVStore, key: str) -> bool:
    return await store.get(key) is None


@contextlib.asynccontextmanager
async def watching(
    store: KVStore, prefix: str, start_revision: int
) -> AsyncIterator[AsyncIterator[WatchEvent]]:
    """A watch that is closed on exit; backends return async generators, which close."""
    events = store.watch(prefix, start_revision)
    assert isinstance(events, AsyncGenerator)
    try:
        yield events
    finally:
        await events.aclose()


async def take(events: AsyncIterator[WatchEvent], n: int) -> list[WatchEvent]:
    async with asyncio.timeout(5):
        return [await anext(events) for _ in range(n)]


def summary(events: list[WatchEvent]) -> list[tuple[EventKind, str, bytes]]:
    return [(e.kind, e.key, e.value) for e in events]


async def test_get_of_a_missing_key_is_none(store: KVStore, prefix: str) -> None:
    assert await store.get(prefix + "absent") is None


async def test_put_get_delete(store: KVStore, prefix: str) -> None:
    key = prefix + "a"
    first = await must_put(store, key, b"one")
    assert await store.get(key) == KeyValue(key, b"one", first)
    second = await must_put(store, key, b"two")
    assert second > first
    assert await store.get(key) == KeyValue(key, b"two", second)
    assert await store.delete(key) is True
    assert await store.get(key) is None
    assert await store.delete(key) is False


async def test_values_are_kept_byte_for_byte(store: KVStore, prefix: str) -> None:
    values = {"empty": b"", "binary": bytes(range(256)) * 4, "big": b"\x00x" * 100_000}
    for name, value in values.items():
        await must_put(store, prefix + name, value)
    for name, value in values.items():
        stored = await store.get(prefix + name)
        assert stored is not None and stored.value == value


async def test_range_is_sorted_and_holds_only_its_prefix(store: KVStore, prefix: str) -> None:
    names = ["a/z", "a/b", "a/a/deep", "ab", "a", "b/x", "a/\u00e9t\u00e9"]
    for name in names:
        await must_put(store, prefix + name, name.encode())
    kvs, revision = await store.range(prefix + "a/")
    assert [kv.key for kv in kvs] == [prefix + n for n in ("a/a/deep", "a/b", "a/z", "a/été")]
    assert all(kv.value == kv.key.removeprefix(prefix).encode() for kv in kvs)
    assert revision >= max(kv.mod_revision for kv in kvs)
    assert await store.range(prefix + "c/") == ([], revision)


async def test_every_write_increases_the_revision(store: KVStore, prefix: str) -> None:
    _, start = await store.range(prefix)
    a = await must_put(store, prefix + "a", b"1")
    b = await must_put(store, prefix + "b", b"1")
    assert start < a < b
    assert await store.delete(prefix + "a")
    _, after_delete = await store.range(prefix)
    assert after_delete > b
    assert await must_put(store, prefix + "a", b"2") > after_delete
    assert await store.get(prefix + "b") == KeyValue(prefix + "b", b"1", b)


async def test_put_compare_and_swap(store: KVStore, prefix: str) -> None:
    key = prefix + "k"
    assert await store.put(key, b"never", expected_revision=12345) is None
    assert await store.get(key) is None
    created = await store.put(key, b"v1", expected_revision=0)
    assert created is not None
    # 0 means "only if absent"
    assert await store.put(key, b"again", expected_revision=0) is None
    updated = await store.put(key, b"v2", expected_revision=created)
    assert updated is not None and updated > created
    assert await store.put(key, b"stale", expected_revision=created) is None
    assert await store.get(key) == KeyValue(key, b"v2", updated)


async def test_delete_compare_and_swap(store: KVStore, prefix: str) -> None:
    key = prefix + "k"
    first = await must_put(store, key, b"v1")
    second = await must_put(store, key, b"v2")
    assert await store.delete(key, expected_revision=first) is False
    assert await store.delete(key, expected_revision=0) is False
    assert await store.get(key) == KeyValue(key, b"v2", second)
    assert await store.delete(key, expected_revision=second) is True
    assert await store.get(key) is None
    assert await store.delete(key, expected_revision=second) is False


async def test_lease_expiry_deletes_its_keys(store: KVStore, prefix: str) -> None:
    _, revision = await store.range(prefix)
    lease = await store.grant_lease(0.5)
    bound = prefix + "instances/me"
    await must_put(store, bound, b"alive", lease=lease)
    await must_put(store, prefix + "plain", b"stays")
    assert await store.get(bound) is not None
    async with watching(store, prefix + "instances/", revision + 1) as events:
        await wait_until(lambda: is_absent(store, bound))
        assert summary(await take(events, 2)) == [(PUT, bound, b"alive"), (DELETE, bound, b"")]
    assert await store.refresh_lease(lease) is False
    assert await store.get(prefix + "plain") is not None
    with pytest.raises(KVError):
        await store.put(prefix + "late", b"x", lease=lease)


async def test_refresh_keeps_a_lease_alive(store: KVStore, prefix: str) -> None:
    lease = await store.grant_lease(0.5)
    key = prefix + "instances/me"
    await must_put(store, key, b"alive", lease=lease)
    for _ in range(10):
        await asyncio.sleep(0.1)
        assert await store.refresh_lease(lease) is True
    assert await store.get(key) is not None


async def test_revoke_deletes_the_keys_bound_now(store: KVStore, prefix: str) -> None:
    lease = await store.grant_lease(30)
    await must_put(store, prefix + "a", b"1", lease=lease)
    await must_put(store, prefix + "b", b"1", lease=lease)
    # a put without a lease unbinds the key, as in etcd
    await must_put(store, prefix + "c", b"1", lease=lease)
    await must_put(store, prefix + "c", b"2")
    await store.revoke_lease(lease)
    kvs, _ = await store.range(prefix)
    assert [(kv.key, kv.value) for kv in kvs] == [(prefix + "c", b"2")]
    assert await store.refresh_lease(lease) is False


async def test_watch_sees_puts_and_deletes_in_order(store: KVStore, prefix: str) -> None:
    _, revision = await store.range(prefix)
    watched = prefix + "w/"
    async with watching(store, watched, revision + 1) as events:
        r1 = await must_put(store, watched + "a", b"1")
        await must_put(store, prefix + "elsewhere", b"x")
        r2 = await must_put(store, watched + "b", b"2")
        r3 = await must_put(store, watched + "a", b"3")
        assert await store.delete(watched + "b")
        got = await take(events, 4)
    assert summary(got) == [
        (PUT, watched + "a", b"1"),
        (PUT, watched + "b", b"2"),
        (PUT, watched + "a", b"3"),
        (DELETE, watched + "b", b""),
    ]
    assert [e.revision for e in got[:3]] == [r1, r2, r3]
    assert got[3].revision > r3


async def test_watch_replays_changes_since_its_start_revision(store: KVStore, prefix: str) -> None:
    first = await must_put(store, prefix + "a", b"1")
    second = await must_put(store, prefix + "b", b"2")
    assert await store.delete(prefix + "a")
    async with watching(store, prefix, first) as events:
        assert summary(await take(events, 3)) == [
            (PUT, prefix + "a", b"1"),
            (PUT, prefix + "b", b"2"),
            (DELETE, prefix + "a", b""),
        ]
        # and goes on with live changes
        await must_put(store, prefix + "c", b"3")
        assert summary(await take(events, 1)) == [(PUT, prefix + "c", b"3")]
    async with watching(store, prefix, second) as events:
        assert [e.key for e in await take(events, 3)] == [prefix + k for k in "bac"]


async def test_range_then_watch_misses_nothing_under_concurrent_writers(
    store: KVStore, prefix: str
) -> None:
    puts: set[tuple[str, bytes, int]] = set()

    async def writer(w: int) -> None:
        for i in range(60):
            key = f"{prefix}{i % 7}"
            if i % 5 == 4:
                await store.delete(key)
            else:
                value = f"{w}-{i}".encode()
                puts.add((key, value, await must_put(store, key, value)))
            await asyncio.sleep(0)

    writers = [asyncio.create_task(writer(w)) for w in range(4)]
    for _ in range(10):
        await asyncio.sleep(0)
    snapshot, revision = await store.range(prefix)
    received: list[WatchEvent] = []

    async def collect() -> None:
        async with watching(store, prefix, revision + 1) as events:
            async for event in events:
                received.append(event)

    collector = asyncio.create_task(collect())
    await asyncio.gather(*writers)
    final, _ = await store.range(prefix)
    later_puts = {p for p in puts if p[2] > revision}
    assert later_puts and len(later_puts) < len(puts), "the range should fall mid-burst"

    def replayed() -> dict[str, bytes]:
        view = {kv.key: kv.value for kv in snapshot}
        for event in received:
            if event.kind is PUT:
                view[event.key] = event.value
            else:
                view.pop(event.key, None)
        return view

    async def caught_up() -> bool:
        seen = {(e.key, e.value, e.revision) for e in received if e.kind is PUT}
        return seen == later_puts and replayed() == {kv.key: kv.value for kv in final}

    await wait_until(caught_up)
    collector.cancel()
    revisions = [e.revision for e in received]
    assert revisions == sorted(revisions) and revisions[0] > revision


async def test_concurrent_compare_and_swap_increments_count_exactly(
    store: KVStore, prefix: str
) -> None:
    key = prefix + "counter"
    await must_put(store, key, b"0")
    conflicts = 0

    async def increment(times: int) -> None:
        nonlocal conflicts
        for _ in range(times):
            while True:
                current = await store.get(key)
                assert current is not None
                await asyncio.sleep(0)  # let the others race this read
                new = str(int(current.value) + 1).encode()
                if await store.put(key, new, expected_revision=current.mod_revision) is not None:
                    break
                conflicts += 1

    await asyncio.gather(*(increment(25) for _ in range(8)))
    final = await store.get(key)
    assert final is not None and final.value == b"200"
    assert conflicts > 0


async def test_close_ends_every_watch(store: KVStore, prefix: str) -> None:
    _, revision = await store.range(prefix)
    received: list[WatchEvent] = []

    async def collect() -> None:
        async for event in store.watch(prefix, revision + 1):
            received.append(event)

    collector = asyncio.create_task(collect())
    await must_put(store, prefix + "a", b"1")

    async def has_received() -> bool:
        return bool(received)

    await wait_until(has_received)
    await store.close()
    async with asyncio.timeout(5):
        await collector
