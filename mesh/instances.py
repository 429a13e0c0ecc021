"""Mesh instances: this one's record, published under a lease, and a watched view of all.

Each instance keeps ``instances/<id>`` up to date with what placement needs (capacity,
use, LRU time, model count, loads in flight, labels, zone, shutdown flag) and the address
its peers forward to. The key is bound to a lease that the instance keeps alive; when the
instance dies the lease ends and the record vanishes, so peers stop routing to it at once.
Field names follow upstream (UPSTREAM.md §2.1); sizes are in upstream's 8 KiB units.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .aio import within
from .kv.keys import KeyLayout
from .kv.store import KVError, KVStore
from .registry import RecordView

log = logging.getLogger(__name__)

UNIT_BYTES = 8 * 1024  # upstream's size unit in instance records
_REPUBLISH_MIN_S = 2.0  # upstream: at most every 2 s ...
_REPUBLISH_MAX_S = 40.0  # ... and at least every 40 s


@dataclass(frozen=True)
class InstanceRecord:
    address: str
    capacity: int = 0  # bytes
    used: int = 0  # bytes
    lru_time: int = 0  # ms since epoch: last use of the least recently used model
    model_count: int = 0
    loading_threads: int = 0
    loads_in_progress: int = 0
    rpm: int = 0
    shutting_down: bool = False
    start_time: int = 0
    version: str = ""
    location: str = ""
    zone: str = ""
    labels: tuple[str, ...] = field(default_factory=tuple)

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {
            "addr": self.address,
            "cap": self.capacity // UNIT_BYTES,
            "used": -(-self.used // UNIT_BYTES),  # round up: never under-report use
            "lruTime": self.lru_time,
            "count": self.model_count,
            "lThreads": self.loading_threads,
            "lInProg": self.loads_in_progress,
            "rpm": self.rpm,
            "startTime": self.start_time,
            "vers": self.version,
            "loc": self.location,
            "zone": self.zone,
            "labels": list(self.labels),
        }
        if self.shutting_down:
            doc["shutdown"] = True
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> InstanceRecord:
        doc = json.loads(data)
        return cls(
            address=doc["addr"],
            capacity=int(doc.get("cap", 0)) * UNIT_BYTES,
            used=int(doc.get("used", 0)) * UNIT_BYTES,
            lru_time=int(doc.get("lruTime", 0)),
            model_count=int(doc.get("count", 0)),
            loading_threads=int(doc.get("lThreads", 0)),
            loads_in_progress=int(doc.get("lInProg", 0)),
            rpm=int(doc.get("rpm", 0)),
            shutting_down=bool(doc.get("shutdown", False)),
            start_time=int(doc.get("startTime", 0)),
            version=str(doc.get("vers", "")),
            location=str(doc.get("loc", "")),
            zone=str(doc.get("zone", "")),
            labels=tuple(doc.get("labels", ())),
        )


class Instances:
    """The view of all instances, and the publisher of this one's record."""

    def __init__(
        self,
        store: KVStore,
        layout: KeyLayout,
        *,
        instance_id: str,
        lease_ttl_s: float,
        snapshot: Callable[[], InstanceRecord],
    ) -> None:
        self.instance_id = instance_id
        self.view: RecordView[InstanceRecord] = RecordView(
            store, layout.instances_prefix, InstanceRecord.from_json, "instance"
        )
        self._store = store
        self._key = layout.instance(instance_id)
        self._ttl = lease_ttl_s
        self._snapshot = snapshot
        self._lease: int | None = None
        self._published: InstanceRecord | None = None
        self._published_at = 0.0
        self._shutting_down = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = False

    def get(self, instance_id: str) -> InstanceRecord | None:
        return self.view.get(instance_id)

    def alive(self) -> dict[str, InstanceRecord]:
        """Every instance with a live record, and this one (once started) as it is now:
        its own record may not have come back through the watch yet."""
        records = {i: r for i in self.view.ids() if (r := self.view.get(i)) is not None}
        if self._started:
            records[self.instance_id] = self._current()
        return records

    def _current(self) -> InstanceRecord:
        record = self._snapshot()
        return replace(record, shutting_down=True) if self._shutting_down else record

    async def start(self) -> None:
        await self.view.start()
        await self._publish(force=True)
        self._started = True
        self._task = asyncio.create_task(self._run())

    def changed(self) -> None:
        """Something placement cares about changed: republish soon."""
        self._wake.set()

    async def mark_shutting_down(self) -> None:
        self._shutting_down = True
        with contextlib.suppress(KVError):
            await self._publish(force=True)

    async def stop(self) -> None:
        self._started = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._lease is not None:
            with contextlib.suppress(KVError):
                await self._store.revoke_lease(self._lease)
        await self.view.stop()

    async def _publish(self, *, force: bool = False) -> None:
        record = self._current()
        now = time.monotonic()
        fresh = now - self._published_at < _REPUBLISH_MAX_S
        if not force and record == self._published and fresh:
            return
        if self._lease is None:
            self._lease = await self._store.grant_lease(self._ttl)
        await self._store.put(self._key, record.to_json(), lease=self._lease)
        self._published = record
        self._published_at = now

    async def _run(self) -> None:
        """Keep the lease alive and the record fresh; re-create both if the lease ended."""
        refresh_every = self._ttl / 3
        throttle = min(_REPUBLISH_MIN_S, refresh_every / 2)
        last_refresh = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), refresh_every)
            self._wake.clear()
            try:
                if time.monotonic() - last_refresh >= refresh_every and self._lease is not None:
                    if not await self._store.refresh_lease(self._lease):
                        log.warning("instance lease ended; registering again")
                        self._lease = None
                        self._published = None
                    last_refresh = time.monotonic()
                await self._publish(force=self._published is None)
            except KVError as exc:
                log.warning("could not publish instance record: %s", exc)
            await asyncio.sleep(throttle)
