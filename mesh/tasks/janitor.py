"""The janitor, on every instance: keep the registry true to this instance's cache.

Each run: copies the registry lists here but the cache lacks are removed, loaded copies the
registry misses are recorded (after an etcd restart, say), copies of models unregistered
meanwhile are unloaded; failure records past their expiry are dropped; the registry's
last-used time of models used here is refreshed (other instances rank by it); and idle
extra copies are let go: a copy unused for a while, when others remain (never below the
model's minimum), or copies beyond the model's maximum.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial

from ..errors import MeshError
from ..instances import Instances
from ..loading import Loader, now_ms
from ..records import ModelRecord
from ..registry import Registry

log = logging.getLogger(__name__)

# an extra copy unused this long goes, however young the cache (upstream: up to 10 h)
MAX_IDLE_MS = 10 * 60 * 60 * 1000
MIN_IDLE_MS = 60 * 1000


class Janitor:
    def __init__(
        self,
        *,
        registry: Registry,
        loader: Loader,
        instances: Instances,
        failure_expiry_ms: int,
        interval_s: float,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.registry = registry
        self.loader = loader
        self.instances = instances
        self.failure_expiry_ms = failure_expiry_ms
        self.interval_s = interval_s
        self.clock = clock

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.run_once()
            except MeshError as exc:
                log.warning("janitor run skipped: %s", exc.message)

    async def forget_copies_not_here(self) -> None:
        """Drop the copies the registry lists on this instance that its cache lacks (all of
        them when a restarted instance starts: its runtime purged what it held)."""
        me = self.instances.instance_id
        models = self.registry.models
        for model_id in models.ids():
            record = models.get(model_id)
            if (
                record is not None
                and me in record.instance_ids
                and model_id not in self.loader.copies
            ):
                await models.update(
                    model_id, _change(partial(ModelRecord.without_copy, instance_id=me))
                )

    async def run_once(self) -> None:
        me = self.instances.instance_id
        now = self.clock()
        models = self.registry.models
        copies = self.loader.copies
        await self.forget_copies_not_here()
        for model_id in models.ids():
            record = models.get(model_id)
            if record is None:
                continue
            expired = [i for i, t in record.failed_in.items() if now - t >= self.failure_expiry_ms]
            if expired:
                await models.update(
                    model_id, _change(partial(ModelRecord.without_failures_of, instances=expired))
                )
        for model_id, copy in list(copies.items()):
            if not copy.loaded:
                continue
            record = models.get(model_id)
            if record is None:
                await self.loader.unload(model_id)  # unregistered while we weren't looking
                continue
            entry = self.loader.cache.get(model_id)
            last_used = entry.last_used if entry else record.last_used
            if me not in record.loaded_in or last_used - record.last_used > self.interval_s * 1000:
                await models.update(
                    model_id, _change(partial(_seen_here, me=me, now=now, last_used=last_used))
                )
        self._let_extra_copies_go(now)

    def _let_extra_copies_go(self, now: int) -> None:
        me = self.instances.instance_id
        alive = self.instances.alive()
        cache = self.loader.cache
        oldest = cache.oldest_last_used() or now
        idle_after = min(MAX_IDLE_MS, max(MIN_IDLE_MS, (now - oldest) // 10))
        for entry in cache.entries():
            record = self.registry.models.get(entry.model_id)
            copy = self.loader.copies.get(entry.model_id)
            if record is None or copy is None or not copy.loaded:
                continue
            live = sorted(i for i in record.loaded_in if i in alive)
            if len(live) <= max(1, record.min_copies):
                continue
            over_max = record.max_copies and me in live[record.max_copies :]
            if over_max or now - entry.last_used > idle_after:
                log.info("letting an extra copy of %s go (%d copies)", entry.model_id, len(live))
                self.loader.evict(entry.model_id, for_room=False)


def _change(
    change: Callable[[ModelRecord], ModelRecord],
) -> Callable[[ModelRecord | None], ModelRecord | None]:
    return lambda record: change(record) if record is not None else None


def _seen_here(record: ModelRecord, me: str, now: int, last_used: int) -> ModelRecord:
    if me not in record.loaded_in:
        record = record.with_copy_loaded(me, now)
    return record.used_at(last_used)
