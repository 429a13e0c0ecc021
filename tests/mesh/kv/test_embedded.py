"""What only the embedded store promises: durability across restarts and kill -9, one process
per file, and a bounded watch history."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelmesh.mesh.kv import embedded
from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.kv.store import KeyValue, KVError, WatchEvent


async def next_event(events: AsyncIterator[WatchEvent]) -> WatchEvent:
    async with asyncio.timeout(5):
        return await anext(events)


async def test_restart_keeps_data_and_revision(tmp_path: Path) -> None:
    path = tmp_path / "state" / "kv.db"
    store = await EmbeddedStore.open(path)
    kept = await store.put("k/kept", b"v1")
    assert kept is not None
    await store.put("k/gone", b"x")
    await store.delete("k/gone")
    _, revision = await store.range("k/")
    await store.close()

    store = await EmbeddedStore.open(path)
    try:
        assert await store.range("k/") == ([KeyValue("k/kept", b"v1", kept)], revision)
        after = await store.put("k/kept", b"v2", expected_revision=kept)
        assert after is not None and after > revision
    finally:
        await store.close()


async def test_lease_bound_keys_vanish_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    store = await EmbeddedStore.open(path)
    lease = await store.grant_lease(3600)
    await store.put("instances/old-run", b"{}", lease=lease)
    await store.put("registry/model", b"{}")
    _, revision = await store.range("")
    await store.close()

    store = await EmbeddedStore.open(path)
    try:
        kvs, reopened = await store.range("")
        assert [kv.key for kv in kvs] == ["registry/model"]
        assert reopened > revision
    finally:
        await store.close()


async def test_a_second_open_of_the_same_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    store = await EmbeddedStore.open(path)
    with pytest.raises(KVError, match=f"another modelmesh process is using {path}"):
        await EmbeddedStore.open(path)
    await store.close()
    store = await EmbeddedStore.open(path)
    await store.close()


async def test_a_file_that_is_no_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    path.write_bytes(b"not a database" * 1000)
    with pytest.raises(KVError, match="cannot open the store"):
        await EmbeddedStore.open(path)


async def test_a_closed_store_refuses_calls() -> None:
    store = await EmbeddedStore.open(None)
    await store.close()
    with pytest.raises(KVError, match="closed"):
        await store.get("k")


async def test_watch_from_before_the_open_is_compacted(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    store = await EmbeddedStore.open(path)
    await store.put("k", b"1")
    await store.close()

    store = await EmbeddedStore.open(path)
    try:
        with pytest.raises(KVError, match="compacted"):
            await next_event(store.watch("", 1))
        _, revision = await store.range("")
        events = store.watch("", revision + 1)
        new = await store.put("k", b"2")
        assert (await next_event(events)).revision == new
    finally:
        await store.close()


async def test_watch_history_is_bounded() -> None:
    store = await EmbeddedStore.open(None, history=10)
    try:
        for i in range(20):
            await store.put(f"k{i}", b"v")
        with pytest.raises(KVError, match="compacted"):
            await next_event(store.watch("", 1))
        _, last = await store.range("")
        events = store.watch("", last - 9)
        assert [(await next_event(events)).revision for _ in range(10)] == list(
            range(last - 9, last + 1)
        )
    finally:
        await store.close()


async def test_a_watcher_that_falls_behind_is_told_so() -> None:
    store = await EmbeddedStore.open(None, history=10)
    try:
        events = store.watch("", 1)
        await store.put("k", b"0")
        await next_event(events)
        for i in range(30):
            await store.put("k", str(i).encode())
        with pytest.raises(KVError, match="fell 10 events behind"):
            async with asyncio.timeout(5):
                async for _ in events:
                    pass
    finally:
        await store.close()


async def test_a_closed_watch_stops_listening() -> None:
    store = await EmbeddedStore.open(None)
    try:
        events = store.watch("", 1)
        await store.put("k", b"1")
        await next_event(events)
        await events.aclose()
        async for _ in store.watch("", 1):
            break
        # the broken-off generator is closed by the loop's finaliser
        for _ in range(5):
            await asyncio.sleep(0)
        assert not store._watchers
        assert await store.put("k", b"2") is not None
    finally:
        await store.close()


class _FailingDisk:
    """Stands in for the SQLite connection: every statement fails as on a broken disk."""

    in_transaction = False

    def execute(self, *_: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")


async def test_lease_expiry_retries_when_the_disk_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "_EXPIRY_RETRY_SECONDS", 0.1)
    store = await EmbeddedStore.open(None)
    db = store._db
    try:
        lease = await store.grant_lease(0.1)
        await store.put("instances/me", b"{}", lease=lease)
        store._db = _FailingDisk()  # type: ignore[assignment]
        await asyncio.sleep(0.3)
        with pytest.raises(KVError, match="disk I/O error"):
            await store.refresh_lease(lease)
        assert await store.get("instances/me") is not None
        store._db = db
        await asyncio.sleep(0.2)
        assert await store.get("instances/me") is None
        assert await store.refresh_lease(lease) is False
    finally:
        store._db = db
        await store.close()


# Writes keys in a loop, printing each once its put has returned.
_WRITER = """
import asyncio, sys
from pathlib import Path
from modelmesh.mesh.kv.embedded import EmbeddedStore

async def main() -> None:
    store = await EmbeddedStore.open(Path(sys.argv[1]))
    i = 0
    while True:
        key = f"burst/{i:09d}"
        await store.put(key, ((key + "|") * int(sys.argv[2])).encode())
        print(key, flush=True)
        i += 1

asyncio.run(main())
"""


async def test_kill_9_mid_burst_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    repeat = 400  # values of ~6 KiB span pages, so a torn write would show
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, str(path), str(repeat), stdout=asyncio.subprocess.PIPE
    )
    assert writer.stdout is not None
    acknowledged: list[str] = []
    kill_after = random.randint(1000, 3000)
    async with asyncio.timeout(15):
        while len(acknowledged) < kill_after:
            line = await writer.stdout.readline()
            assert line, "the writer stopped early"
            acknowledged.append(line.decode().strip())
        writer.send_signal(signal.SIGKILL)
        rest = await writer.stdout.read()
        assert await writer.wait() == -signal.SIGKILL
    # a line cut by the kill does not count as acknowledged
    acknowledged += [line for line in rest.decode().split("\n")[:-1]]

    store = await EmbeddedStore.open(path)
    try:
        kvs, _ = await store.range("burst/")
    finally:
        await store.close()
    keys = [kv.key for kv in kvs]
    # every acknowledged write, and at most the one in flight at the kill
    assert keys[: len(acknowledged)] == acknowledged
    assert len(keys) - len(acknowledged) in (0, 1)
    assert keys == [f"burst/{i:09d}" for i in range(len(keys))]
    for kv in kvs:
        assert kv.value == ((kv.key + "|") * repeat).encode()
