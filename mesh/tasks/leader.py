"""Leader election: the instance holding ``leaderLatch/leader`` under its lease leads.

Only chores are gated by leadership (the reaper); requests never wait on it. A leader
that loses its lease stops leading at once; another instance takes the key when it
vanishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..kv.keys import KeyLayout
from ..kv.store import KVError, KVStore

log = logging.getLogger(__name__)


class LeaderElection:
    def __init__(
        self, store: KVStore, layout: KeyLayout, *, instance_id: str, ttl_s: float
    ) -> None:
        self._store = store
        self._key = layout.leader_prefix + "leader"
        self._me = instance_id.encode()
        self._ttl = ttl_s
        self._lease: int | None = None
        self.is_leader = False

    async def leader_id(self) -> str | None:
        """The instance leading now, as the store says."""
        current = await self._store.get(self._key)
        return current.value.decode() if current is not None else None

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._step()
                except KVError as exc:
                    if self.is_leader:
                        log.warning("leadership lost: %s", exc)
                    self.is_leader = False
                    self._lease = None
                await asyncio.sleep(self._ttl / 3)
        finally:
            if self._lease is not None:
                with contextlib.suppress(KVError):
                    await self._store.revoke_lease(self._lease)

    async def _step(self) -> None:
        if self._lease is not None and not await self._store.refresh_lease(self._lease):
            self._lease = None
            if self.is_leader:
                log.warning("leadership lost: lease ended")
            self.is_leader = False
        current = await self._store.get(self._key)
        if current is not None:
            self.is_leader = current.value == self._me and self._lease is not None
            return
        if self._lease is None:
            self._lease = await self._store.grant_lease(self._ttl)
        won = await self._store.put(self._key, self._me, expected_revision=0, lease=self._lease)
        if won is not None and not self.is_leader:
            log.info("this instance now leads the mesh")
        self.is_leader = won is not None
