"""The KV store interface every backend implements (embedded.py; etcd later).

Semantics follow etcd v3, so the mesh's code is the same on both backends:
- every write bumps one store-wide ``revision``; a key remembers the revision of its
  last write (``mod_revision``);
- writes can be compare-and-swap on that revision: ``expected_revision=0`` means
  "only if absent", ``None`` means unconditional;
- a key may be bound to a lease and vanishes when the lease ends;
- ``watch`` streams every change under a prefix after a given revision, in order,
  so a reader that ranged at revision R and watches from R+1 misses nothing.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int


class EventKind(enum.Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class WatchEvent:
    kind: EventKind
    key: str
    # the new value for PUT, empty for DELETE
    value: bytes
    # the revision of this change
    revision: int


class KVError(Exception):
    """The store could not be reached or refused the operation."""


class KVStore(Protocol):
    async def get(self, key: str) -> KeyValue | None:
        """The key's current value, or None."""
        ...

    async def range(self, prefix: str) -> tuple[list[KeyValue], int]:
        """All keys under ``prefix`` sorted by key, and the store revision they reflect."""
        ...

    async def put(
        self,
        key: str,
        value: bytes,
        *,
        expected_revision: int | None = None,
        lease: int | None = None,
    ) -> int | None:
        """Write ``key``. Returns the new revision, or None when the CAS failed.

        A put without ``lease`` unbinds the key from any lease it had, as in etcd. Raises
        KVError if ``lease`` has ended.
        """
        ...

    async def delete(self, key: str, *, expected_revision: int | None = None) -> bool:
        """Delete ``key``. False when it was absent or the CAS failed."""
        ...

    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[WatchEvent]:
        """Changes under ``prefix`` with revision >= ``start_revision`` (at least 1), until closed.

        Backends return an async generator: ``aclose()`` stops the watch at once; one dropped
        after a ``break`` is closed by the event loop soon after. Raises KVError whose message
        starts with "compacted" when the changes from ``start_revision`` on are no longer kept,
        or when the consumer fell too far behind; the caller then ranges again and watches from
        that range's revision + 1.
        """
        ...

    async def grant_lease(self, ttl_seconds: float) -> int:
        """A new lease id; keys put with it vanish ``ttl_seconds`` after the last refresh."""
        ...

    async def refresh_lease(self, lease: int) -> bool:
        """Keep a lease alive. False when it has already ended."""
        ...

    async def revoke_lease(self, lease: int) -> None:
        """End a lease now, deleting its keys (one revision). Nothing if it has already ended."""
        ...

    async def close(self) -> None:
        """Release the store; every watch's iteration ends. Closing twice is harmless."""
        ...
