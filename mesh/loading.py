"""Loading and unloading models on this instance.

One load per model at a time (every caller awaits the same future), at most
``maxLoadingConcurrency`` loads running, each cut off at ``modelLoadingTimeoutMs``.
Room is made by evicting the least recently used models (``cache.py``). A failed load
is recorded on the model's registry record with the runtime's message, and locally
with an expiry during which requests fail fast instead of reloading; the registration
itself is never touched by a failure. Unloads wait for requests in flight on the copy.

Bounds (``settings.LimitSettings``): a copy runs at most ``MM_MAX_INFLIGHT_PER_MODEL_COPY``
requests at once, the rest wait in its queue of at most ``MM_MAX_QUEUE_PER_MODEL_COPY``
(``LocalCopy.enter``); at most ``MM_MAX_LOAD_QUEUE`` loads wait for a loading slot. Past a
bound the request or load is refused at once with ``LimitReached``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

import grpc

from .aio import within
from .cache import LruCache
from .errors import (
    CapacityExhausted,
    LimitReached,
    LoadFailed,
    MeshError,
    ModelNotFound,
    NoEligibleInstance,
)
from .events import MeshObserver
from .placement import eligible
from .records import ModelRecord
from .registry import Registry
from .runtime.client import RuntimeCallError, RuntimeClient, RuntimeInfo
from .settings import CacheSettings

log = logging.getLogger(__name__)

_PREDICT_SIZE_TIMEOUT_S = 0.5
_MODEL_SIZE_TIMEOUT_S = 30.0
_UNLOAD_DRAIN_TIMEOUT_S = 30.0
_UNLOAD_ATTEMPTS = 5


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(eq=False)
class LocalCopy:
    """A copy of a model on this instance, loading or loaded."""

    model_id: str
    ready: asyncio.Future[None]
    started: float = field(default_factory=time.monotonic)
    loaded: bool = False
    inflight: int = 0
    # set while an unload waits for in-flight requests to finish
    drained: asyncio.Event | None = field(default=None, repr=False)
    # requests waiting for a turn while the copy runs its limit (made when first needed)
    waiting: deque[asyncio.Future[None]] | None = field(default=None, repr=False)

    async def enter(self, limit: int, queue: int) -> None:
        """Take a turn on this copy: at once below ``limit`` requests running (0: no limit),
        else after waiting in a queue of at most ``queue``. Pair with ``end``."""
        if not limit or self.inflight < limit:
            self.inflight += 1
            return
        if self.waiting is None:
            self.waiting = deque()
        if len(self.waiting) >= queue:
            raise LimitReached(
                f"model {self.model_id!r} has {self.inflight} requests running and "
                f"{len(self.waiting)} waiting here",
                "MM_MAX_QUEUE_PER_MODEL_COPY" if queue else "MM_MAX_INFLIGHT_PER_MODEL_COPY",
                queue or limit,
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(turn)
        try:
            await turn  # end() hands its turn over: inflight already counts this request
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.end()  # given a turn, then cancelled: pass the turn on
            elif turn in self.waiting:
                self.waiting.remove(turn)
            raise

    def end(self) -> None:
        waiting = self.waiting
        while waiting:
            turn = waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.inflight -= 1
        if self.inflight == 0 and self.drained is not None:
            self.drained.set()


class Loader:
    def __init__(
        self,
        *,
        runtime: RuntimeClient,
        info: RuntimeInfo,
        registry: Registry,
        instance_id: str,
        labels: frozenset[str],
        settings: CacheSettings,
        observer: MeshObserver | None = None,
        clock: Callable[[], int] = now_ms,
        load_queue: int = 0,
    ) -> None:
        self.runtime = runtime
        self.info = info
        self.registry = registry
        self.instance_id = instance_id
        self.labels = labels
        self.settings = settings
        self.clock = clock
        self.observer = observer or MeshObserver()
        self.cache = LruCache(info.capacity_bytes)
        self.copies: dict[str, LocalCopy] = {}
        # model id -> (when, error) of the last failed load here
        self.failures: dict[str, tuple[int, MeshError]] = {}
        self._slots = asyncio.Semaphore(max(1, info.max_loading_concurrency))
        # loads started and not finished, and how many of them may wait for a slot
        # (0: no bound)
        self.pending_loads = 0
        self.load_queue = load_queue
        self._unloads: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        # called with a model id when a load finishes, loaded or failed
        self.on_load_done: list[Callable[[str], None]] = []

    # -- the request path -------------------------------------------------------

    async def ensure_loaded(self, model_id: str, *, last_used: int | None = None) -> LocalCopy:
        """This instance's copy of the model, loading it first if needed."""
        copy = self.copies.get(model_id)
        if copy is None:
            copy = self.start_load(model_id, last_used=last_used)
        if not copy.loaded:
            await asyncio.shield(copy.ready)
        return copy

    def start_load(
        self, model_id: str, *, last_used: int | None = None, why: str = ""
    ) -> LocalCopy:
        """Begin loading (or join the load under way); raises at once when it can't."""
        copy = self.copies.get(model_id)
        if copy is not None:
            return copy
        record = self.registry.models.get(model_id)
        if record is None:
            raise ModelNotFound(model_id)
        failure = self.recent_failure(model_id)
        if failure is not None:
            raise failure
        if not eligible(record.type, self.labels):
            raise NoEligibleInstance(record.type)
        slots = max(1, self.info.max_loading_concurrency)
        if self.load_queue and self.pending_loads >= slots + self.load_queue:
            raise LimitReached(
                f"cannot start loading {model_id!r}: {self.pending_loads} loads are under way "
                f"or waiting here",
                "MM_MAX_LOAD_QUEUE",
                self.load_queue,
            )
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # nobody may await a failed load; don't warn about that
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        copy = LocalCopy(model_id, ready)
        self.copies[model_id] = copy
        self.pending_loads += 1  # until _load ends
        stamp = last_used if last_used else self.clock()
        self._spawn(self._load(copy, record, stamp, why))
        return copy

    def recent_failure(self, model_id: str) -> MeshError | None:
        entry = self.failures.get(model_id)
        if entry is None:
            return None
        when, error = entry
        if self.clock() - when < self.settings.load_failure_expiry_ms:
            return error
        del self.failures[model_id]
        return None

    def forget_failure(self, model_id: str) -> None:
        self.failures.pop(model_id, None)

    # -- loading ----------------------------------------------------------------

    async def _load(self, copy: LocalCopy, record: ModelRecord, last_used: int, why: str) -> None:
        try:
            await self._load_copy(copy, record, last_used, why)
        finally:
            self.pending_loads -= 1

    async def _load_copy(
        self, copy: LocalCopy, record: ModelRecord, last_used: int, why: str
    ) -> None:
        model_id = copy.model_id
        try:
            pending_unload = self._unloads.get(model_id)
            if pending_unload is not None:
                await asyncio.shield(pending_unload)
            estimate = await self._predict_size(model_id, record)
            self._make_room(model_id, estimate)
            self.cache.add(model_id, estimate, last_used)
            await self._update_record(
                model_id, lambda r: r.with_copy_loading(self.instance_id, self.clock(), why)
            )
            size = await self._run_load(model_id, record)
            if self.copies.get(model_id) is not copy:
                raise ModelNotFound(model_id)  # unloaded (unregistered) while it loaded
            self.cache.resize(model_id, size)
            self._evict_over_capacity()
            entry = self.cache.get(model_id)
            if entry is not None:
                entry.pinned = False
        except MeshError as error:
            self._fail(copy, error)
            return
        except Exception as exc:  # a bug or an unexpected runtime reply: never lose the task
            log.exception("load of %r failed unexpectedly", model_id)
            self._fail(copy, LoadFailed(model_id, f"unexpected error: {exc}"))
            return
        copy.loaded = True
        copy.ready.set_result(None)
        # requests waiting on this load go first; the registry hears of it right after
        # (one store round trip less on every cache miss)
        self._spawn(
            self._update_record_quietly(
                model_id,
                lambda r: r.with_copy_loaded(self.instance_id, self.clock()).used_at(last_used),
            )
        )
        load_ms = (time.monotonic() - copy.started) * 1000
        log.info("model loaded: %s (%d bytes, %.0f ms)", model_id, size, load_ms)
        self.observer.loaded(model_id, size, load_ms)
        self._cache_changed()
        self._notify(model_id)

    async def _predict_size(self, model_id: str, record: ModelRecord) -> int:
        try:
            size = await within(
                self.runtime.predict_size(model_id, record.type, record.path, record.key),
                _PREDICT_SIZE_TIMEOUT_S,
            )
        except (RuntimeCallError, TimeoutError):
            size = 0  # optional in the protocol
        return size or self.info.default_model_size

    def _make_room(self, model_id: str, size: int) -> None:
        if size > self.cache.capacity:
            raise CapacityExhausted(
                f"model {model_id!r} needs about {size} bytes, more than this instance's "
                f"capacity of {self.cache.capacity} bytes"
            )
        victims = self.cache.victims_for(size)
        if victims is None:
            raise CapacityExhausted(
                f"no room to load {model_id!r} ({size} bytes): {self.cache.free} bytes free "
                "and the rest is held by models still loading; retry shortly"
            )
        for victim in victims:
            self.evict(victim)

    def _evict_over_capacity(self) -> None:
        victims = self.cache.victims_for(0) or []
        for victim in victims:
            self.evict(victim)

    async def _run_load(self, model_id: str, record: ModelRecord) -> int:
        timeout_s = self.info.loading_timeout_ms / 1000 if self.info.loading_timeout_ms else None
        queued = time.monotonic()
        async with self._slots:
            self.observer.load_started(model_id, (time.monotonic() - queued) * 1000)
            try:
                result = await within(
                    self.runtime.load(model_id, record.type, record.path, record.key), timeout_s
                )
            except TimeoutError:
                # the runtime may still finish; make sure nothing stays loaded
                self._spawn(self._unload_quietly(model_id))
                raise LoadFailed(
                    model_id,
                    f"loading timed out after {self.info.loading_timeout_ms} ms",
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                ) from None
            except RuntimeCallError as exc:
                code = exc.code if exc.code != grpc.StatusCode.UNKNOWN else None
                raise LoadFailed(model_id, exc.message, code) from exc
        if result.size_bytes:
            return result.size_bytes
        try:
            size = await within(self.runtime.model_size(model_id), _MODEL_SIZE_TIMEOUT_S)
        except (RuntimeCallError, TimeoutError):
            size = 0
        return size or self.info.default_model_size

    async def _update_record(
        self, model_id: str, change: Callable[[ModelRecord], ModelRecord]
    ) -> None:
        def update(current: ModelRecord | None) -> ModelRecord | None:
            if current is None:
                raise ModelNotFound(model_id)  # unregistered while loading
            return change(current)

        await self.registry.models.update(model_id, update)

    def _fail(self, copy: LocalCopy, error: MeshError) -> None:
        model_id = copy.model_id
        if self.copies.get(model_id) is copy:
            del self.copies[model_id]
            self.cache.remove(model_id)
        transient = isinstance(error, CapacityExhausted | ModelNotFound)
        if not transient:
            self.failures[model_id] = (self.clock(), error)
            log.warning("model load failed: %s: %s", model_id, error.message)
            message = error.reason if isinstance(error, LoadFailed) else error.message
            self.observer.load_failed(model_id, message, (time.monotonic() - copy.started) * 1000)
            self._spawn(
                self._update_record_quietly(
                    model_id, lambda r: r.with_copy_failed(self.instance_id, self.clock(), message)
                )
            )
        else:
            self._spawn(
                self._update_record_quietly(model_id, lambda r: r.without_copy(self.instance_id))
            )
        copy.ready.set_exception(error)
        self._notify(model_id)

    def _notify(self, model_id: str) -> None:
        for callback in self.on_load_done:
            callback(model_id)

    # -- unloading --------------------------------------------------------------

    def evict(self, model_id: str, *, for_room: bool = True) -> None:
        """Drop the model from the cache now; the runtime unload follows in the background.
        ``for_room``: evicted to make room (counted as an eviction), not unregistered."""
        entry = self.cache.remove(model_id)
        copy = self.copies.pop(model_id, None)
        if copy is None:
            return
        if for_room and entry is not None:
            log.info("model evicted: %s", model_id)
            self.observer.evicted(model_id, self.clock() - entry.last_used)
        self._cache_changed()
        task = asyncio.create_task(self._unload(copy))
        self._unloads[model_id] = task
        task.add_done_callback(lambda _: self._unloads.pop(model_id, None))

    async def unload(self, model_id: str) -> None:
        """Unload the model here (e.g. it was unregistered) and wait for it."""
        self.forget_failure(model_id)
        self.evict(model_id, for_room=False)
        task = self._unloads.get(model_id)
        if task is not None:
            await asyncio.shield(task)

    async def _unload(self, copy: LocalCopy) -> None:
        if not copy.ready.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(copy.ready)
        if copy.inflight:
            copy.drained = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await within(copy.drained.wait(), _UNLOAD_DRAIN_TIMEOUT_S)
        started = time.monotonic()
        ok = await self._unload_quietly(copy.model_id)
        self.observer.unloaded(copy.model_id, (time.monotonic() - started) * 1000, ok)
        await self._update_record_quietly(copy.model_id, lambda r: r.without_copy(self.instance_id))

    async def _unload_quietly(self, model_id: str) -> bool:
        for attempt in range(_UNLOAD_ATTEMPTS):
            try:
                await self.runtime.unload(model_id)
                return True
            except RuntimeCallError as exc:
                log.warning("unload of %r failed (attempt %d): %s", model_id, attempt + 1, exc)
                await asyncio.sleep(0.2 * 2**attempt)
        return False

    def _cache_changed(self) -> None:
        cache = self.cache
        self.observer.cache_changed(
            cache.capacity, cache.used, len(cache), cache.oldest_last_used() or 0
        )

    async def _update_record_quietly(
        self, model_id: str, change: Callable[[ModelRecord], ModelRecord]
    ) -> None:
        with contextlib.suppress(ModelNotFound):
            try:
                await self._update_record(model_id, change)
            except MeshError as exc:
                log.warning("could not update the record of %r: %s", model_id, exc.message)

    def _spawn(self, coro: Coroutine[object, object, object]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in [*self._tasks, *self._unloads.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._unloads.values(), return_exceptions=True)
