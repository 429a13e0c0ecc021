"""The leader's reaper: forget copies of instances that are gone, reload what they held.

An instance whose record vanished (its lease ended) is given ``gone_after_ms`` to come
back (an etcd hiccup can drop a lease while the instance is fine); after that its copies
are removed from the registry. Models that had their only loaded copy there and were used
recently are loaded again elsewhere, most recently used first, as far as free space goes.
Models below their minimum number of copies get another one. Runs on the leader only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection

from ..errors import MeshError
from ..instances import Instances
from ..loading import now_ms
from ..locating import Locator
from ..records import ModelRecord
from ..registry import Registry
from .leader import LeaderElection

log = logging.getLogger(__name__)

# reload a dead instance's models only if they were used this recently (upstream: 1 h)
RELOAD_IF_USED_WITHIN_MS = 60 * 60 * 1000
_MAX_RELOADS_PER_RUN = 50


class Reaper:
    def __init__(
        self,
        *,
        registry: Registry,
        instances: Instances,
        locator: Locator,
        election: LeaderElection,
        gone_after_ms: int,
        interval_s: float,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.registry = registry
        self.instances = instances
        self.locator = locator
        self.election = election
        self.gone_after_ms = gone_after_ms
        self.interval_s = interval_s
        self.clock = clock
        self._missing_since: dict[str, int] = {}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if self.election.is_leader:
                try:
                    await self.run_once()
                except MeshError as exc:
                    log.warning("reaper run skipped: %s", exc.message)

    async def run_once(self) -> None:
        now = self.clock()
        alive = self.instances.alive()
        models = self.registry.models
        referenced = {i for mid in models.ids() if (r := models.get(mid)) for i in r.instance_ids}
        self._missing_since = {
            i: self._missing_since.get(i, now) for i in referenced if i not in alive
        }
        gone = {i for i, since in self._missing_since.items() if now - since >= self.gone_after_ms}
        reload: list[tuple[int, str, str]] = []
        for model_id in models.ids():
            record = models.get(model_id)
            if record is None or not (set(record.instance_ids) & gone):
                continue
            lost = set(record.instance_ids) & gone
            after = await models.update(model_id, _without_copies(lost))
            if after is None:
                continue
            log.info("removed copies of %s on gone instance(s) %s", model_id, ", ".join(lost))
            still_loaded = set(after.instance_ids) & set(alive)
            was_loaded = lost & set(record.loaded_in)
            if (
                was_loaded
                and not still_loaded
                and now - record.last_used < RELOAD_IF_USED_WITHIN_MS
            ):
                reload.append((record.last_used, model_id, sorted(was_loaded)[0]))
        for _, model_id, instance in sorted(reload, reverse=True)[:_MAX_RELOADS_PER_RUN]:
            self.locator.add_copy(model_id, f"reloaded: instance {instance} is gone")
        self._ensure_min_copies(alive.keys())

    def _ensure_min_copies(self, alive: Collection[str]) -> None:
        models = self.registry.models
        for model_id in models.ids():
            record = models.get(model_id)
            if record is None or record.min_copies <= 0:
                continue
            live = [i for i in record.instance_ids if i in alive]
            if len(live) < record.min_copies:
                with contextlib.suppress(MeshError):
                    self.locator.add_copy(
                        model_id, f"minimum {record.min_copies} copies, {len(live)} live"
                    )


def _without_copies(instances: set[str]) -> Callable[[ModelRecord | None], ModelRecord | None]:
    def change(record: ModelRecord | None) -> ModelRecord | None:
        if record is None:
            return None
        for instance in instances:
            record = record.without_copy(instance)
        return record

    return change
