"""Watchers fill a cache and wake per-object work; the queue runs that work.

One ``watch_kind`` task per kind lists every object (a full resync), then follows the
watch stream until ``resync_s`` has passed, then lists again: a missed event is repaired
within one resync period, and a resourceVersion the server does not give costs nothing
but a relist. Each list or event updates the ``Cache`` and calls ``on_change`` with the
keys whose objects changed in anything but their status (our own status writes do not
wake us again).

``WorkQueue`` runs ``handle(key)`` (``handling.py``) for each woken key: one pass at a
time per object, the latest state wins (a key woken during its pass runs once more
after it, not once per event), at most ``workers`` passes at once. A pass returns the
delay after which to look again (a loading model is polled), or None.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp

from .kube import Kind, Kube, KubeError, NotFound

log = logging.getLogger(__name__)

Key = tuple[Kind, str, str]  # kind, namespace ('' for cluster objects), name
Handle = Callable[[Key], Awaitable[float | None]]

# after an unexpected error in a pass, or a failed list/watch
RETRY_S = 2.0


def key_of(kind: Kind, obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    namespace = str(meta.get("namespace") or "") if kind.namespaced else ""
    return kind, namespace, str(meta.get("name") or "")


def _without_status(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {
        k: v
        for k, v in (obj.get("metadata") or {}).items()
        if k not in ("resourceVersion", "managedFields")
    }
    return {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}


class Cache:
    """The latest object of every watched key, as the API server last showed it."""

    def __init__(self) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._objects.get(key)

    def objects(self, kind: Kind, namespace: str | None = None) -> list[dict[str, Any]]:
        return [
            obj
            for (k, ns, _), obj in self._objects.items()
            if k == kind and (namespace is None or ns == namespace)
        ]

    def keys(self, kind: Kind, namespace: str | None = None) -> list[Key]:
        return [key for key in self._objects if key[0] == kind and namespace in (None, key[1])]

    def put(self, key: Key, obj: dict[str, Any] | None) -> bool:
        """Store (None: forget) an object; True if it changed in more than its status."""
        before = self._objects.get(key)
        if obj is None:
            self._objects.pop(key, None)
            return before is not None
        self._objects[key] = obj
        return before is None or _without_status(before) != _without_status(obj)

    def replace(
        self, kind: Kind, namespace: str | None, items: Iterable[dict[str, Any]]
    ) -> list[Key]:
        """A full list of ``kind``: every listed key, and every cached key that vanished."""
        listed = {key_of(kind, obj): obj for obj in items}
        vanished = [key for key in self.keys(kind, namespace) if key not in listed]
        for key in vanished:
            self.put(key, None)
        for key, obj in listed.items():
            self.put(key, obj)
        return [*listed, *vanished]


async def watch_kind(
    kube: Kube,
    kind: Kind,
    namespace: str | None,
    *,
    cache: Cache,
    on_change: Callable[[list[Key]], None],
    resync_s: float,
    listed: asyncio.Event | None = None,
) -> None:
    """List then watch ``kind`` forever (cancel to stop); ``listed`` is set after the
    first list, or after the first failed one (the cache is then empty)."""
    while True:
        try:
            try:
                items, version = await kube.list_objects(kind, namespace)
            except NotFound:
                # the CRD is not installed (yet): nothing to watch until it is
                log.info("%s is not served by the API server; looking again later", kind)
                if listed is not None:
                    listed.set()
                await asyncio.sleep(resync_s)
                continue
            on_change(cache.replace(kind, namespace, items))
            if listed is not None:
                listed.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(resync_s):
                    stream = kube.watch(kind, namespace, since=version, timeout_s=int(resync_s))
                    async for event, obj in stream:
                        if event not in ("ADDED", "MODIFIED", "DELETED"):
                            continue  # BOOKMARK: nothing changed
                        key = key_of(kind, obj)
                        changed = cache.put(key, None if event == "DELETED" else obj)
                        if changed:
                            on_change([key])
        except Exception as exc:  # a watcher never dies: log, wait, list again
            expected = isinstance(exc, (KubeError, aiohttp.ClientError, OSError, TimeoutError))
            log.warning(
                "watching %s failed, listing again in %.0f s: %s",
                kind,
                RETRY_S,
                exc,
                exc_info=not expected,
            )
            if listed is not None:
                listed.set()
            await asyncio.sleep(RETRY_S)


class WorkQueue:
    """Per-object passes: latest wins, one at a time per key, ``workers`` at once."""

    def __init__(self, handle: Handle, *, workers: int) -> None:
        self._handle = handle
        self._slots = asyncio.Semaphore(workers)
        self._dirty: set[Key] = set()
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}

    def submit(self, key: Key, delay: float = 0.0) -> None:
        """Run a pass for ``key`` now, or after ``delay`` seconds (an earlier wake wins)."""
        loop = asyncio.get_running_loop()
        timer = self._timers.pop(key, None)
        if delay > 0:
            when = loop.time() + delay
            if timer is not None and timer.when() <= when:
                self._timers[key] = timer
                return
            if timer is not None:
                timer.cancel()
            self._timers[key] = loop.call_at(when, self.submit, key)
            return
        if timer is not None:
            timer.cancel()
        self._dirty.add(key)
        if key not in self._running:
            self._running[key] = asyncio.create_task(self._work(key), name=f"pass {key[1:]}")

    def submit_all(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self.submit(key)

    async def _work(self, key: Key) -> None:
        try:
            while key in self._dirty:
                self._dirty.discard(key)
                async with self._slots:
                    try:
                        delay = await self._handle(key)
                    except Exception:
                        log.exception("pass over %s %s/%s failed", key[0].kind, key[1], key[2])
                        delay = RETRY_S
                if delay is not None and key not in self._dirty:
                    self.submit(key, delay)
        finally:
            self._running.pop(key, None)

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
