"""Where a model's next copy is, or should be: the decisions behind routing and loading.

``next_step`` answers for one request: an instance holding a copy (fewest requests we
have in flight there), else one loading it, else a new placement (``placement.place``),
never an instance the request already tried or one that failed this model recently.
After ``MAX_LOAD_FAILURES`` recent failures the model is reported failed instead of being
tried on yet another instance. ``load`` starts a copy where placement says, here or on a
peer (which records itself in the registry before it loads).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Collection, Coroutine
from dataclasses import dataclass, replace

from ..protos import model_mesh_pb2 as pb
from .errors import LoadFailed, MeshError, ModelNotFound, NoEligibleInstance, Unavailable
from .instances import InstanceRecord, Instances
from .loading import Loader, LocalCopy
from .peers import HIT_ONLY, LOAD_LOCAL_ONLY, PeerFault, Peers
from .placement import choose, eligible, place
from .records import ModelRecord
from .registry import Registry
from .runtime.client import RuntimeCallError

log = logging.getLogger(__name__)

# upstream: give up on a model after this many recent failed loads in the cluster
MAX_LOAD_FAILURES = 3
ENSURE_LOADED = "/mmesh.ModelMesh/ensureLoaded"


@dataclass(frozen=True, slots=True)
class Step:
    instance_id: str
    address: str
    hop: str
    why: str = ""


class Locator:
    def __init__(
        self,
        *,
        registry: Registry,
        loader: Loader,
        instances: Instances,
        peers: Peers,
        failure_expiry_ms: int,
        default_model_size: int,
    ) -> None:
        self.registry = registry
        self.loader = loader
        self.instances = instances
        self.peers = peers
        self.failure_expiry_ms = failure_expiry_ms
        self.default_model_size = default_model_size
        self._tasks: set[asyncio.Task[None]] = set()

    def next_step(
        self,
        model_id: str,
        excluded: set[str],
        last_error: MeshError | None,
        failed_now: Collection[str] = (),
    ) -> Step:
        """Where to send the request next: a copy, a copy loading, or a new placement."""
        record = self.registry.models.get(model_id)
        if record is None:
            raise ModelNotFound(model_id)
        alive = self.instances.alive()
        me = self.instances.instance_id
        holders = [i for i in record.loaded_in if i in alive and i not in excluded and i != me]
        if holders:
            best = min(holders, key=lambda i: (self.peers.inflight.get(i, 0), random.random()))
            return Step(best, alive[best].address, HIT_ONLY)
        loading = sorted(
            (started, i)
            for i, started in record.instance_ids.items()
            if i in alive and i not in excluded and i != me and i not in record.loaded_in
        )
        if loading:
            instance = loading[0][1]
            return Step(instance, alive[instance].address, HIT_ONLY)
        return self._new_copy(model_id, record, alive, excluded, last_error, failed_now)

    def _new_copy(
        self,
        model_id: str,
        record: ModelRecord,
        alive: dict[str, InstanceRecord],
        excluded: set[str],
        last_error: MeshError | None,
        failed_now: Collection[str] = (),
    ) -> Step:
        """Placement for a new copy, or the error that says why there can be none.
        ``failed_now``: instances where the caller just saw this model's load fail."""
        me = self.instances.instance_id
        now = time.time_ns() // 1_000_000
        failures = record.recent_failures(now, self.failure_expiry_ms)
        if len(set(failures) | set(failed_now)) >= MAX_LOAD_FAILURES:
            if last_error is not None:
                raise last_error
            raise LoadFailed(model_id, "; ".join(f"{i}: {m}" for i, m in failures.items()))
        failed = set(failures) | set(failed_now)
        local_failure = self.loader.recent_failure(model_id)
        if local_failure is not None:
            failed.add(me)
            last_error = last_error or local_failure  # it carries the runtime's own code
        verdicts = place(
            alive,
            model_type=record.type,
            exclude=excluded,
            failed=failed,
            default_model_size=self.default_model_size,
            now=now,
        )
        choice = choose(verdicts)
        if choice is None:
            if last_error is not None:
                raise last_error
            if failures:
                raise LoadFailed(model_id, "; ".join(f"{i}: {m}" for i, m in failures.items()))
            if not any(eligible(record.type, r.labels) for r in alive.values()):
                raise NoEligibleInstance(record.type)
            raise Unavailable(f"no instance can load model {model_id!r} now; retry shortly")
        return Step(
            choice.instance_id, alive[choice.instance_id].address, LOAD_LOCAL_ONLY, choice.reason
        )

    def load(
        self, model_id: str, *, placed_here: str | None = None, last_used: int | None = None
    ) -> LocalCopy | None:
        """Start a load where placement says (here, or a peer told to load it); the local
        copy when it loads here, None when a peer does. ``placed_here``: a peer already
        placed it here, for that reason."""
        copy = self.loader.copies.get(model_id)
        if copy is not None:
            return copy
        if placed_here is not None:
            return self.loader.start_load(model_id, last_used=last_used, why=placed_here)
        step = self.next_step(model_id, set(), None)
        if step.hop == HIT_ONLY:
            return None  # a copy exists or is loading elsewhere
        if step.instance_id == self.instances.instance_id:
            return self.loader.start_load(model_id, last_used=last_used, why=step.why)
        self._spawn(self._load_on_peer(model_id, step))
        return None

    def add_copy(self, model_id: str, reason: str) -> str | None:
        """Start one more copy of a model on an instance without one (scaling up, or moving
        copies off an instance that leaves); the instance chosen, or None."""
        record = self.registry.models.get(model_id)
        if record is None:
            return None
        alive = self.instances.alive()
        excluded = set(record.instance_ids) | {self.instances.instance_id}
        try:
            step = self._new_copy(model_id, record, alive, excluded, None)
        except MeshError:
            return None
        self._spawn(self._load_on_peer(model_id, replace(step, why=f"{reason}; {step.why}")))
        return step.instance_id

    async def _load_on_peer(self, model_id: str, step: Step) -> None:
        request = pb.EnsureLoadedRequest(modelId=model_id).SerializeToString()
        try:
            await self.peers.forward(
                step.instance_id,
                step.address,
                ENSURE_LOADED,
                request,
                (),
                hop=LOAD_LOCAL_ONLY,
                placed=step.why,
            )
        except (PeerFault, RuntimeCallError) as exc:
            log.warning("asking %s to load %s failed: %s", step.instance_id, model_id, exc)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
