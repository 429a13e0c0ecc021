"""Model and vmodel records in the KV store, with a watched in-memory view.

Reads come from the view (the request path never waits on the store); every write is
a compare-and-swap on the key's revision, retried against a fresh read when another
writer got there first. The view is fed by our own writes at once and by a watch on
the store for everyone else's, ordered by revision so a late event never undoes a
newer state. Errors of the store become ``Unavailable`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from .errors import MeshError, Unavailable
from .kv.keys import KeyLayout
from .kv.store import EventKind, KVError, KVStore
from .records import ModelRecord, VModelRecord

log = logging.getLogger(__name__)


class Record(Protocol):
    def to_json(self) -> bytes: ...


R = TypeVar("R", bound=Record)
# An update function: the current record (None: absent) -> the new one (None: delete).
# Returning the very same object means "no change", and nothing is written.
Update = Callable[[R | None], R | None]
Listener = Callable[[str, R | None], None]

_MAX_CAS_ATTEMPTS = 50
_WATCH_RETRY_S = 0.5


class RecordView(Generic[R]):
    """One keyspace (registry/ or vmodels/): the view, CAS updates and the watch."""

    def __init__(
        self, store: KVStore, prefix: str, decode: Callable[[bytes], R], what: str
    ) -> None:
        self._store = store
        self._prefix = prefix
        self._decode: Callable[[bytes], R] = decode
        self._what = what
        self._items: dict[str, tuple[R, int]] = {}
        # revisions of deletes not yet seen on the watch, so a stale PUT can't resurrect
        self._tombstones: dict[str, int] = {}
        self._listeners: list[Listener[R]] = []
        self._watch_task: asyncio.Task[None] | None = None

    def get(self, item_id: str) -> R | None:
        entry = self._items.get(item_id)
        return entry[0] if entry else None

    async def get_strong(self, item_id: str) -> R | None:
        """The record, read from the store when the view lacks it: a record written through
        another instance may not have come back through the watch yet (upstream's
        getOrStrongIfAbsent). Only for the rare not-found path."""
        record = self.get(item_id)
        if record is not None:
            return record
        try:
            kv = await self._store.get(self._prefix + item_id)
        except KVError as exc:
            raise Unavailable(f"KV store unavailable while reading {item_id!r}: {exc}") from exc
        if kv is None:
            return None
        try:
            self._apply(item_id, self._decode(kv.value), kv.mod_revision)
        except (ValueError, KeyError, TypeError):
            return None
        return self.get(item_id)

    def ids(self) -> list[str]:
        return sorted(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def listen(self, listener: Listener[R]) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        try:
            revision = await self._sync()
        except KVError as exc:
            raise Unavailable(f"KV store unavailable while reading {self._what}s: {exc}") from exc
        self._watch_task = asyncio.create_task(self._watch(revision + 1))

    async def _sync(self) -> int:
        """Bring the view to the store's state by a full read; returns its revision."""
        items, revision = await self._store.range(self._prefix)
        present = set()
        for kv in items:
            item_id = KeyLayout.id_from(kv.key, self._prefix)
            present.add(item_id)
            try:
                self._apply(item_id, self._decode(kv.value), kv.mod_revision)
            except (ValueError, KeyError, TypeError) as exc:
                log.error("skipping unreadable %s record %r: %s", self._what, item_id, exc)
        for item_id in [i for i in self._items if i not in present]:
            self._apply(item_id, None, revision)
        return revision

    async def stop(self) -> None:
        if self._watch_task:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task

    async def update(self, item_id: str, update: Update[R]) -> R | None:
        key = self._prefix + item_id
        current, revision = self._items.get(item_id, (None, 0))
        for _ in range(_MAX_CAS_ATTEMPTS):
            new = update(current)
            if new is current:
                return current
            try:
                if new is None:
                    if current is None:
                        return None
                    if await self._store.delete(key, expected_revision=revision):
                        # no PUT can sit between `revision` and this delete (the CAS held),
                        # so any event at or before `revision` is stale from now on
                        self._apply(item_id, None, revision)
                        return None
                else:
                    new_rev = await self._store.put(key, new.to_json(), expected_revision=revision)
                    if new_rev is not None:
                        self._apply(item_id, new, new_rev)
                        return new
                kv = await self._store.get(key)
            except KVError as exc:
                raise Unavailable(
                    f"KV store unavailable while updating {item_id!r}: {exc}"
                ) from exc
            current, revision = (self._decode(kv.value), kv.mod_revision) if kv else (None, 0)
        raise MeshError(f"too much contention updating {self._what} {item_id!r}; try again")

    def _apply(self, item_id: str, record: R | None, revision: int) -> None:
        entry = self._items.get(item_id)
        if record is None:
            if entry is None or entry[1] > revision:
                return
            del self._items[item_id]
            self._tombstones[item_id] = entry[1]
        else:
            if (entry and entry[1] >= revision) or self._tombstones.get(item_id, 0) >= revision:
                return
            self._items[item_id] = (record, revision)
            self._tombstones.pop(item_id, None)
        for listener in self._listeners:
            listener(item_id, record)

    async def _watch(self, start_revision: int) -> None:
        revision = start_revision
        while True:
            try:
                async for event in self._store.watch(self._prefix, revision):
                    revision = event.revision + 1
                    item_id = KeyLayout.id_from(event.key, self._prefix)
                    if event.kind is EventKind.DELETE:
                        self._apply(item_id, None, event.revision)
                    else:
                        try:
                            self._apply(item_id, self._decode(event.value), event.revision)
                        except (ValueError, KeyError, TypeError) as exc:
                            log.error("ignoring unreadable %s %r: %s", self._what, item_id, exc)
                    if len(self._tombstones) > 10_000:
                        self._tombstones = {
                            k: r for k, r in self._tombstones.items() if r >= event.revision
                        }
                return
            except KVError as exc:
                # a broken or compacted watch: re-read everything, then watch on from there
                log.warning("watch on %s ended (%s); re-reading", self._prefix, exc)
                await asyncio.sleep(_WATCH_RETRY_S)
                with contextlib.suppress(KVError):
                    revision = await self._sync() + 1


class Registry:
    """The registry of models and the vmodels over them."""

    def __init__(self, store: KVStore, layout: KeyLayout) -> None:
        self.models: RecordView[ModelRecord] = RecordView(
            store, layout.registry_prefix, ModelRecord.from_json, "model"
        )
        self.vmodels: RecordView[VModelRecord] = RecordView(
            store, layout.vmodels_prefix, VModelRecord.from_json, "vmodel"
        )

    async def start(self) -> None:
        await self.models.start()
        await self.vmodels.start()

    async def stop(self) -> None:
        await self.models.stop()
        await self.vmodels.stop()
