"""More copies for models that need them (UPSTREAM.md §2.5).

- Second copy: a model used again 7 to 40 minutes after its previous use is in regular use;
  it gets a second copy so that losing one instance doesn't make it cold.
- Hot models: each instance counts the requests it serves per model; a model whose rate
  per copy passes ``scaleup_rpm_threshold`` (``MM_SCALEUP_RPM_THRESHOLD``, 2000/min) gets
  one more copy per check, up to its maximum.
Extra copies that fall idle are let go by the janitor.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from ..instances import Instances
from ..loading import now_ms
from ..locating import Locator
from ..registry import Registry

log = logging.getLogger(__name__)

SECOND_COPY_MIN_AGE_MS = 7 * 60 * 1000
SECOND_COPY_MAX_AGE_MS = 40 * 60 * 1000
CHECK_EVERY_S = 10.0
# after adding a copy, give it this long to load before adding another
_ADD_BACKOFF_MS = 60 * 1000


class Scaler:
    def __init__(
        self,
        *,
        registry: Registry,
        instances: Instances,
        locator: Locator,
        rpm_threshold: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.registry = registry
        self.instances = instances
        self.locator = locator
        self.rpm_threshold = rpm_threshold
        self.clock = clock
        self.counts: Counter[str] = Counter()
        self._wanted: set[str] = set()
        self._added_at: dict[str, int] = {}
        self._last_check = clock()

    def used(self, model_id: str, previous_use: int, now: int) -> None:
        """A request was served here (the request path: cheap)."""
        self.counts[model_id] += 1
        if SECOND_COPY_MIN_AGE_MS <= now - previous_use <= SECOND_COPY_MAX_AGE_MS:
            self._wanted.add(model_id)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            self.check()

    def check(self) -> None:
        now = self.clock()
        minutes = max((now - self._last_check) / 60_000, 1e-6)
        self._last_check = now
        counts, self.counts = self.counts, Counter()
        wanted, self._wanted = self._wanted, set()
        alive = self.instances.alive()
        for model_id in wanted | set(counts):
            record = self.registry.models.get(model_id)
            if record is None or now - self._added_at.get(model_id, 0) < _ADD_BACKOFF_MS:
                continue
            copies = sum(1 for i in record.instance_ids if i in alive)
            if record.max_copies and copies >= record.max_copies:
                continue
            rpm = counts.get(model_id, 0) / minutes
            if rpm >= self.rpm_threshold * max(copies, 1):
                reason = f"hot: {rpm:.0f} requests/min over {copies} copies"
            elif model_id in wanted and copies == 1:
                reason = "in regular use: a second copy"
            else:
                continue
            if self.locator.add_copy(model_id, reason) is not None:
                self._added_at[model_id] = now
                log.info("adding a copy of %s (%s)", model_id, reason)
