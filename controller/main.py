"""``modelmesh controller``: settings, clients, watchers, then wait for a stop signal.

``start_controller`` connects to the API server (``kube.py``) and the meshes
(``apply.py``), starts one watcher per kind (``watching.py``) feeding a work queue
whose passes are ``handling.Handler.handle``, and returns the running ``Controller``.
Runtimes are listed before any model is judged, so a model is never reported as having
no runtime only because the runtimes were not read yet; a change to a runtime wakes
every model of its namespace (of all namespaces, for a ClusterServingRuntime). In
cluster scope, the namespaces labelled ``modelmesh-enabled=true`` are read again every
resync period. ``run_forever`` is the CLI command: it runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from .apply import MeshClients
from .handling import Handler
from .kube import (
    CLUSTER_SERVING_RUNTIMES,
    INFERENCE_SERVICES,
    PREDICTORS,
    SERVING_RUNTIMES,
    Kind,
    Kube,
    connect,
)
from .leader import LeaderElector
from .settings import ENABLED_NAMESPACE_LABEL, ControllerSettings
from .watching import Cache, Key, WorkQueue, watch_kind

log = logging.getLogger(__name__)

# how long start-up waits for the runtimes' first list before judging models anyway
_RUNTIMES_LISTED_TIMEOUT_S = 30.0


@dataclass
class Controller:
    settings: ControllerSettings
    kube: Kube
    meshes: MeshClients
    cache: Cache
    queue: WorkQueue
    # namespaces served in cluster scope (labelled modelmesh-enabled=true)
    enabled: set[str] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def source_kinds(self) -> tuple[Kind, ...]:
        return (INFERENCE_SERVICES, PREDICTORS) if self.settings.watch_isvcs else (PREDICTORS,)

    def serves(self, namespace: str) -> bool:
        if self.settings.namespace_scope:
            return namespace == self.settings.namespace
        return namespace in self.enabled

    def sources_in(self, namespace: str | None) -> list[Key]:
        return [key for kind in self.source_kinds for key in self.cache.keys(kind, namespace)]

    def runtimes_changed(self, keys: list[Key]) -> None:
        """A runtime came, went or changed: look at the models it may concern again."""
        if any(kind == CLUSTER_SERVING_RUNTIMES for kind, _, _ in keys):
            self.queue.submit_all(self.sources_in(None))
            return
        for namespace in {namespace for _, namespace, _ in keys}:
            self.queue.submit_all(self.sources_in(namespace))

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.create_task(work, name=name))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.queue.close()
        await self.meshes.close()
        await self.kube.close()


async def start_controller(settings: ControllerSettings) -> Controller:
    kube = Kube(await connect(settings.kubeconfig))
    cache = Cache()
    meshes = MeshClients(settings.mesh_endpoint, timeout_s=settings.call_timeout_s)
    queue = WorkQueue(lambda key: handler.handle(key), workers=settings.workers)
    controller = Controller(settings, kube, meshes, cache, queue)
    handler = Handler(
        kube=kube,
        meshes=meshes,
        cache=cache,
        endpoints=settings.endpoints,
        serves_namespace=controller.serves,
    )
    scope = settings.namespace if settings.namespace_scope else None
    log.info(
        "controller in %s; mesh at %s",
        f"namespace {scope}" if scope else "namespaces labelled modelmesh-enabled=true",
        settings.mesh_endpoint,
    )
    if scope is None:
        await _read_namespaces(controller)
        controller.spawn(_poll_namespaces(controller), "namespaces")
    listed = []
    for kind, namespace in ((SERVING_RUNTIMES, scope), (CLUSTER_SERVING_RUNTIMES, None)):
        done = asyncio.Event()
        listed.append(done)
        watcher = watch_kind(
            kube,
            kind,
            namespace,
            cache=cache,
            on_change=controller.runtimes_changed,
            resync_s=settings.resync_s,
            listed=done,
        )
        controller.spawn(watcher, f"watch {kind.plural}")
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_RUNTIMES_LISTED_TIMEOUT_S):
            await asyncio.gather(*(done.wait() for done in listed))
    for kind in controller.source_kinds:
        watcher = watch_kind(
            kube,
            kind,
            scope,
            cache=cache,
            on_change=queue.submit_all,
            resync_s=settings.resync_s,
        )
        controller.spawn(watcher, f"watch {kind.plural}")
    return controller


async def _read_namespaces(controller: Controller) -> None:
    try:
        enabled = await controller.kube.namespaces(ENABLED_NAMESPACE_LABEL)
    except Exception as exc:  # RBAC, network: keep serving the namespaces known so far
        log.warning("cannot list namespaces, keeping %s: %s", sorted(controller.enabled), exc)
        return
    added = enabled - controller.enabled
    controller.enabled = enabled
    for namespace in added:
        log.info("serving namespace %s", namespace)
        controller.queue.submit_all(controller.sources_in(namespace))


async def _poll_namespaces(controller: Controller) -> None:
    while True:
        await asyncio.sleep(controller.settings.resync_s)
        await _read_namespaces(controller)


class LeadershipLost(Exception):
    """Another replica took the Lease: this one stopped acting and must restart."""


async def run_forever(settings: ControllerSettings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    elector = None
    if settings.leader_elect:
        elector = LeaderElector(
            await connect(settings.kubeconfig),
            namespace=settings.namespace,
            identity=settings.identity,
        )
        if not await _until_stopped(elector.acquire(), stop):
            await elector.close()
            return
    controller = await start_controller(settings)
    lost = False
    try:
        lost = not await _until_stopped(elector.hold(), stop) if elector else False
        if not lost:
            await stop.wait()
    finally:
        log.info("stopping")
        await controller.stop()
        if elector is not None:
            if not lost:
                with contextlib.suppress(Exception):
                    await elector.release()
            await elector.close()
    if lost:
        raise LeadershipLost(f"lost the lease to another replica; {settings.identity} stopped")


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run ``work`` until it ends (True) or ``stop`` is set first (False)."""
    task = asyncio.create_task(work)
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait((task, stopped), return_when=asyncio.FIRST_COMPLETED)
    for pending in (task, stopped):
        pending.cancel()
    await asyncio.gather(task, stopped, return_exceptions=True)
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]
    return not stop.is_set()
