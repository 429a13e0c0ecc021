"""The local model cache: which models this instance holds, their sizes, LRU order.

Pure bookkeeping (no I/O, no awaits): ``loading.py`` asks it for room and for
victims, and does the loading and unloading. Sizes are bytes; the capacity is what the
runtime reported. An entry is *pinned* while it loads, so it can't be evicted to make
room for something else (or for itself).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class CacheEntry:
    model_id: str
    size: int
    last_used: int
    pinned: bool = True


class LruCache:
    """Entries kept in ascending ``last_used`` order; the head is evicted first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    def __contains__(self, model_id: str) -> bool:
        return model_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model_id: str) -> CacheEntry | None:
        return self._entries.get(model_id)

    @property
    def free(self) -> int:
        return self.capacity - self.used

    def oldest_last_used(self) -> int | None:
        """The instance's LRU time: when its least recently used model was last used."""
        for entry in self._entries.values():
            return entry.last_used
        return None

    def touch(self, model_id: str, now: int) -> None:
        """Record a use: the hot path, O(1)."""
        entry = self._entries.get(model_id)
        if entry is not None and now >= entry.last_used:
            entry.last_used = now
            self._entries.move_to_end(model_id)

    def victims_for(self, size: int) -> list[str] | None:
        """The least recently used unpinned entries to evict so ``size`` more bytes fit;
        None when even evicting every unpinned entry would not make room."""
        needed = size - self.free
        victims: list[str] = []
        for entry in self._entries.values():
            if needed <= 0:
                break
            if not entry.pinned:
                victims.append(entry.model_id)
                needed -= entry.size
        return victims if needed <= 0 else None

    def add(self, model_id: str, size: int, last_used: int) -> CacheEntry:
        """Insert a pinned entry at its place in LRU order (the caller made room)."""
        entry = CacheEntry(model_id, size, last_used)
        tail = next(reversed(self._entries.values()), None)
        self._entries[model_id] = entry
        self.used += size
        if tail is not None and tail.last_used > last_used:
            # an older stamp than the newest entry (rare): newer entries go behind it
            newer = [e.model_id for e in self._entries.values() if e.last_used > last_used]
            for other in newer:
                self._entries.move_to_end(other)
        return entry

    def resize(self, model_id: str, size: int) -> None:
        entry = self._entries[model_id]
        self.used += size - entry.size
        entry.size = size

    def remove(self, model_id: str) -> CacheEntry | None:
        entry = self._entries.pop(model_id, None)
        if entry is not None:
            self.used -= entry.size
        return entry

    def entries(self) -> list[CacheEntry]:
        """Least recently used first."""
        return list(self._entries.values())
