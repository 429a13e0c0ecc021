"""The local model cache: which models this instance holds, their sizes, LRU order.

Pure bookkeeping (no I/O, no awaits): ``loading.py`` asks it for room and for
victims, and does the loading and unloading. Sizes are bytes; the capacity is what the
runtime reported. An entry is *pinned* while it loads, so it can't be evicted to make
room for something else (or for itself).

Order is kept in two parts so every common operation stays cheap with tens of
thousands of models: ``_recent``, an insertion-ordered dict whose entries were used in
ascending time (a use moves an entry to its end), and ``_older``, a sorted list of the
entries that arrived with a stamp older than the newest entry (registerModel's loadNow
stamps an hour back, so a fresh registration doesn't evict what was used recently).
LRU order is the merge of the two.
"""

from __future__ import annotations

import bisect
import heapq
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class CacheEntry:
    model_id: str
    size: int
    last_used: int
    pinned: bool = True
    # in ``_older`` (out of order) rather than ``_recent``
    older: bool = False


class LruCache:
    """Least recently used first; the first unpinned entries are evicted first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._all: dict[str, CacheEntry] = {}
        self._recent: OrderedDict[str, CacheEntry] = OrderedDict()
        self._older: list[tuple[int, str]] = []

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._all

    def __len__(self) -> int:
        return len(self._all)

    def get(self, model_id: str) -> CacheEntry | None:
        return self._all.get(model_id)

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def _in_order(self) -> Iterator[CacheEntry]:
        if not self._older:
            return iter(self._recent.values())
        older = (self._all[model_id] for _, model_id in self._older)
        return heapq.merge(older, self._recent.values(), key=lambda e: e.last_used)

    def oldest_last_used(self) -> int | None:
        """The instance's LRU time: when its least recently used model was last used."""
        for entry in self._in_order():
            return entry.last_used
        return None

    def touch(self, model_id: str, now: int) -> None:
        """Record a use: the hot path, O(1) for an entry already in use order."""
        entry = self._all.get(model_id)
        if entry is None or now < entry.last_used:
            return
        if entry.older:
            self._drop_older(entry)
            entry.older = False
            entry.last_used = now
            self._recent[model_id] = entry
        else:
            entry.last_used = now
            self._recent.move_to_end(model_id)

    def victims_for(self, size: int) -> list[str] | None:
        """The least recently used unpinned entries to evict so ``size`` more bytes fit;
        None when even evicting every unpinned entry would not make room."""
        needed = size - self.free
        victims: list[str] = []
        if needed <= 0:
            return victims
        for entry in self._in_order():
            if not entry.pinned:
                victims.append(entry.model_id)
                needed -= entry.size
                if needed <= 0:
                    return victims
        return None

    def add(self, model_id: str, size: int, last_used: int) -> CacheEntry:
        """Insert a pinned entry at its place in LRU order (the caller made room)."""
        entry = CacheEntry(model_id, size, last_used)
        tail = next(reversed(self._recent.values()), None)
        if tail is not None and tail.last_used > last_used:
            entry.older = True
            bisect.insort(self._older, (last_used, model_id))
        else:
            self._recent[model_id] = entry
        self._all[model_id] = entry
        self.used += size
        return entry

    def resize(self, model_id: str, size: int) -> None:
        entry = self._all[model_id]
        self.used += size - entry.size
        entry.size = size

    def remove(self, model_id: str) -> CacheEntry | None:
        entry = self._all.pop(model_id, None)
        if entry is None:
            return None
        if entry.older:
            self._drop_older(entry)
        else:
            del self._recent[model_id]
        self.used -= entry.size
        return entry

    def _drop_older(self, entry: CacheEntry) -> None:
        key = (entry.last_used, entry.model_id)
        del self._older[bisect.bisect_left(self._older, key)]

    def entries(self) -> list[CacheEntry]:
        """Least recently used first."""
        return list(self._in_order())
