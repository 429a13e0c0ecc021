"""The embedded KV store: one machine, no extra server; the default of ``modelmesh serve``.

Implements store.KVStore (etcd v3 semantics) over one SQLite file and keeps the whole data set
in memory too: reads never touch the disk, and every write is one SQLite transaction that has
committed before the call returns. Leases, watchers and the watch history live in memory only.
A restart therefore ends every lease: on open, the keys bound to one are deleted, since their
owners (say the instance records of the previous run) are gone with the old process.

Each operation runs to completion without yielding to the event loop, so it is atomic with
respect to the loop's other tasks and no locks are needed. The store belongs to the loop that
opened it; one process at a time may open a file (a lock file next to it enforces that).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import itertools
import logging
import os
import sqlite3
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .store import EventKind, KeyValue, KVError, WatchEvent

__all__ = ["EmbeddedStore"]

log = logging.getLogger(__name__)

# user_version of the files this module writes
_SCHEMA_VERSION = 1
_SCHEMA = f"""
BEGIN;
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    mod_revision INTEGER NOT NULL,
    lease INTEGER  -- NULL unless bound to a lease
) WITHOUT ROWID;
-- the store-wide revision: deletes bump it too, so it cannot be derived from kv
CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 0), revision INTEGER NOT NULL);
INSERT INTO meta VALUES (0, 0);
PRAGMA user_version = {_SCHEMA_VERSION};
COMMIT;
"""
# _commit has set meta.revision to the revision of the write when these run
_PUT = (
    "INSERT OR REPLACE INTO kv (key, value, mod_revision, lease)"
    " VALUES (?, ?, (SELECT revision FROM meta), ?)"
)
_DELETE = "DELETE FROM kv WHERE key = ?"

# When deleting an expired lease's keys fails (disk trouble), try again after this long.
_EXPIRY_RETRY_SECONDS = 1.0


@dataclass(eq=False, slots=True)
class _Lease:
    ttl: float
    # loop.time() at which the lease ends unless refreshed
    deadline: float
    timer: asyncio.TimerHandle
    keys: set[str] = field(default_factory=set)


@dataclass(eq=False, slots=True)
class _Watcher:
    prefix: str
    # None ends the iteration
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)
    fell_behind: bool = False


class EmbeddedStore:
    """A KVStore in one SQLite file (or in memory only), for a single process."""

    def __init__(
        self,
        db: sqlite3.Connection,
        *,
        name: str,
        lock_fd: int | None,
        revision: int,
        data: Iterable[KeyValue],
        history: int,
    ) -> None:
        """Use ``open``."""
        self._db = db
        self._name = name
        self._lock_fd = lock_fd
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._revision = revision
        self._data = {kv.key: kv for kv in data}
        # the keys, sorted, so that a prefix range is a bisection
        self._keys = sorted(self._data)
        self._leases: dict[int, _Lease] = {}
        self._key_lease: dict[str, int] = {}
        self._lease_ids = itertools.count(1)
        self._watchers: set[_Watcher] = set()
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._history_size = history
        # Events up to this revision may be missing from the history; nothing before the
        # open is in it.
        self._compacted = revision

    @classmethod
    async def open(cls, path: Path | None, *, history: int = 10_000) -> EmbeddedStore:
        """Open the store in the file ``path``, creating it and its folders if needed.

        ``path=None`` keeps everything in memory (for tests). ``history`` is how many recent
        events a new watcher can replay. Raises KVError if another process uses ``path``.
        """
        if history < 1:
            raise ValueError(f"the watch history needs room for at least one event, not {history}")
        lock_fd = None if path is None else _lock(path)
        name = ":memory:" if path is None else str(path)
        try:
            db, revision, data = _open_db(name)
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return cls(db, name=name, lock_fd=lock_fd, revision=revision, data=data, history=history)

    async def get(self, key: str) -> KeyValue | None:
        self._check_open()
        return self._data.get(key)

    async def range(self, prefix: str) -> tuple[list[KeyValue], int]:
        self._check_open()
        keys = self._keys
        i = bisect.bisect_left(keys, prefix)
        found = []
        while i < len(keys) and keys[i].startswith(prefix):
            found.append(self._data[keys[i]])
            i += 1
        return found, self._revision

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expected_revision: int | None = None,
        lease: int | None = None,
    ) -> int | None:
        self._check_open()
        current = self._data.get(key)
        if expected_revision is not None and expected_revision != (
            current.mod_revision if current else 0
        ):
            return None
        if lease is not None:
            self._check_lease(lease)
        revision = self._commit([(_PUT, (key, value, lease))])
        if current is None:
            bisect.insort(self._keys, key)
        self._data[key] = KeyValue(key, value, revision)
        self._bind(key, lease)
        self._publish(WatchEvent(EventKind.PUT, key, value, revision))
        return revision

    async def delete(self, key: str, *, expected_revision: int | None = None) -> bool:
        self._check_open()
        current = self._data.get(key)
        if current is None:
            return False
        if expected_revision is not None and expected_revision != current.mod_revision:
            return False
        self._delete([key])
        return True

    async def watch(self, prefix: str, start_revision: int) -> AsyncGenerator[WatchEvent, None]:
        self._check_open()
        if start_revision < 1:
            raise ValueError(f"start_revision must be at least 1, not {start_revision}")
        if start_revision <= self._compacted:
            raise KVError(
                f"compacted: revision {start_revision} is no longer in the watch history, "
                f"which starts after revision {self._compacted}; range again and watch from there"
            )
        # The backlog and the registration happen without yielding, so no event falls between.
        backlog = []
        for event in reversed(self._history):
            if event.revision < start_revision:
                break
            if event.key.startswith(prefix):
                backlog.append(event)
        watcher = _Watcher(prefix)
        self._watchers.add(watcher)
        try:
            for event in reversed(backlog):
                yield event
            while (live := await watcher.queue.get()) is not None:
                yield live
            if watcher.fell_behind:
                raise KVError(
                    f"compacted: the watcher of {prefix!r} fell {self._history_size} events "
                    "behind; range again and watch from there"
                )
        finally:
            self._watchers.discard(watcher)

    async def grant_lease(self, ttl_seconds: float) -> int:
        self._check_open()
        if ttl_seconds <= 0:
            raise ValueError(f"a lease needs a positive TTL, not {ttl_seconds}")
        lease_id = next(self._lease_ids)
        deadline = self._loop.time() + ttl_seconds
        timer = self._loop.call_at(deadline, self._expire, lease_id)
        self._leases[lease_id] = _Lease(ttl_seconds, deadline, timer)
        return lease_id

    async def refresh_lease(self, lease: int) -> bool:
        self._check_open()
        entry = self._leases.get(lease)
        if entry is None:
            return False
        now = self._loop.time()
        if now >= entry.deadline:
            # expired, but the loop has not run its timer yet
            self._end_lease(lease)
            return False
        entry.deadline = now + entry.ttl
        entry.timer.cancel()
        entry.timer = self._loop.call_at(entry.deadline, self._expire, lease)
        return True

    async def revoke_lease(self, lease: int) -> None:
        self._check_open()
        if lease in self._leases:
            self._end_lease(lease)

    async def close(self) -> None:
        """End every watcher's iteration and release the file. Leases end with the process:
        their keys stay in the file until the next open deletes them."""
        if self._closed:
            return
        self._closed = True
        for lease in self._leases.values():
            lease.timer.cancel()
        self._leases.clear()
        for watcher in self._watchers:
            watcher.queue.put_nowait(None)
        self._watchers.clear()
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    def _check_open(self) -> None:
        if self._closed:
            raise KVError(f"the store {self._name} is closed")

    def _commit(self, writes: list[tuple[str, tuple[object, ...]]]) -> int:
        """Apply ``writes`` (statement, parameters) as the next revision, durably."""
        revision = self._revision + 1
        db = self._db
        try:
            db.execute("BEGIN")
            db.execute("UPDATE meta SET revision = ?", (revision,))
            for sql, params in writes:
                db.execute(sql, params)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise KVError(f"cannot write to {self._name}: {exc}") from exc
        self._revision = revision
        return revision

    def _delete(self, keys: list[str]) -> None:
        """Delete present ``keys`` as one revision, like etcd does for an ended lease."""
        revision = self._commit([(_DELETE, (key,)) for key in keys])
        for key in keys:
            del self._data[key]
            del self._keys[bisect.bisect_left(self._keys, key)]
            self._bind(key, None)
            self._publish(WatchEvent(EventKind.DELETE, key, b"", revision))

    def _bind(self, key: str, lease: int | None) -> None:
        """Record that ``key`` now belongs to ``lease`` (or to none)."""
        old = self._key_lease.pop(key, None)
        if old is not None and old in self._leases:
            self._leases[old].keys.discard(key)
        if lease is not None:
            self._key_lease[key] = lease
            self._leases[lease].keys.add(key)

    def _check_lease(self, lease: int) -> None:
        entry = self._leases.get(lease)
        if entry is None or self._loop.time() >= entry.deadline:
            raise KVError(f"lease {lease} has ended")

    def _end_lease(self, lease: int) -> None:
        entry = self._leases[lease]
        if entry.keys:
            # may raise; the lease then stays, so that its keys can be deleted later
            self._delete(sorted(entry.keys))
        entry.timer.cancel()
        del self._leases[lease]

    def _expire(self, lease: int) -> None:
        """The lease's timer: it was not refreshed in time."""
        try:
            self._end_lease(lease)
        except KVError:
            log.exception("could not delete the keys of expired lease %d; will retry", lease)
            self._leases[lease].timer = self._loop.call_later(
                _EXPIRY_RETRY_SECONDS, self._expire, lease
            )

    def _publish(self, event: WatchEvent) -> None:
        if len(self._history) == self._history_size:
            self._compacted = self._history[0].revision
        self._history.append(event)
        for watcher in [w for w in self._watchers if event.key.startswith(w.prefix)]:
            if watcher.queue.qsize() < self._history_size:
                watcher.queue.put_nowait(event)
            else:
                # a consumer this slow cannot catch up; etcd would cancel it as compacted
                watcher.fell_behind = True
                watcher.queue.put_nowait(None)
                self._watchers.discard(watcher)


def _lock(path: Path) -> int:
    """An exclusive lock on a file next to ``path``, held until its descriptor is closed.

    A separate file, because SQLite manages its own (fcntl) locks on the database file.
    The kernel drops the lock when the process dies, however it dies.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise KVError(f"cannot create the store's lock file {lock_path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise KVError(
            f"another modelmesh process is using {path} ({lock_path} is locked)"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise KVError(f"cannot lock {lock_path}: {exc}") from exc
    return fd


def _open_db(name: str) -> tuple[sqlite3.Connection, int, list[KeyValue]]:
    """The connection, revision and data of the store ``name``, created if new, after deleting
    the keys of the previous run's leases."""
    try:
        # autocommit: _commit and this function open their transactions explicitly
        db = sqlite3.connect(name, isolation_level=None)
    except sqlite3.Error as exc:
        raise KVError(f"cannot open the store {name}: {exc}") from exc
    try:
        # WAL with synchronous=NORMAL: a commit reaches the OS (the WAL file) before it
        # returns, without an fsync. A killed process (kill -9, OOM) loses no committed write,
        # since the kernel still holds and writes those pages; only a power loss or kernel
        # crash can drop the last commits, and even that leaves the file consistent.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            db.executescript(_SCHEMA)
        elif version != _SCHEMA_VERSION:
            raise KVError(
                f"the store {name} has schema version {version}; this modelmesh reads only "
                f"version {_SCHEMA_VERSION}"
            )
        db.execute("BEGIN IMMEDIATE")
        if db.execute("DELETE FROM kv WHERE lease IS NOT NULL").rowcount:
            db.execute("UPDATE meta SET revision = revision + 1")
        revision = db.execute("SELECT revision FROM meta").fetchone()[0]
        rows = db.execute("SELECT key, value, mod_revision FROM kv").fetchall()
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        db.close()
        raise KVError(f"cannot open the store {name}: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db, revision, [KeyValue(key, value, mod) for key, value, mod in rows]
