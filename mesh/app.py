"""Build, start and stop one mesh instance: store, registry, runtime, cache, API server.

``start_mesh`` wires the parts (each gets its settings and collaborators as arguments)
and returns a running ``MeshApp``; ``serve_forever`` is ``modelmesh serve``: it runs
until SIGINT/SIGTERM and drains on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from .. import __version__
from ..protos import model_mesh_admin_pb2 as admin_pb
from ..protos import model_mesh_pb2 as pb
from .api.decoding import parsed_service
from .api.inference import InferenceProxy
from .api.modelmesh import ModelMeshAdminServicer, ModelMeshServicer
from .errors import MeshError, Unavailable
from .events import MeshObserver, Observers
from .forwarding import Router
from .frontends import Frontends
from .instances import InstanceRecord, Instances
from .kv.embedded import EmbeddedStore
from .kv.etcd import EtcdStore
from .kv.etcd_config import EtcdConfigError, parse_etcd_target
from .kv.keys import KeyLayout
from .kv.store import KVError, KVStore
from .loading import Loader, now_ms
from .locating import Locator
from .models import ModelService
from .observe import build_observers, configure_logging
from .peers import Peers
from .placement import labels_for_formats
from .registry import Registry
from .runtime.client import RuntimeClient, RuntimeInfo
from .runtime.grpc_client import GrpcRuntimeClient
from .settings import Settings, SettingsError
from .tasks.janitor import Janitor
from .tasks.leader import LeaderElection
from .tasks.reaper import Reaper
from .tasks.scaling import Scaler
from .tls import MeshTls
from .vmodels import VModelService

log = logging.getLogger(__name__)

_RUNTIME_POLL_S = 2.0  # upstream polls runtimeStatus every 2 s until READY
# on shutdown, models used this recently are loaded elsewhere first (upstream: 1 h)
RECENTLY_USED_MS = 60 * 60 * 1000


@dataclass
class MeshApp:
    settings: Settings
    store: KVStore
    registry: Registry
    runtime: RuntimeClient
    loader: Loader
    instances: Instances
    peers: Peers
    locator: Locator
    models: ModelService
    vmodels: VModelService
    server: grpc.aio.Server
    port: int
    owns_store: bool = True
    scaler: Scaler | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # REST, probes, metrics and gRPC health; their bound ports: front.rest_port, ...
    front: Frontends | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def drain(self, deadline_s: float) -> None:
        """Leave the mesh gracefully (upstream's preShutdown): stop being chosen, get a copy
        of every recently used model that lives only here loaded elsewhere (most recently
        used first, until ``deadline_s``), then withdraw this instance's copies so peers
        stop forwarding here. Requests keep being served meanwhile."""
        await self.instances.mark_shutting_down()
        me = self.instances.instance_id
        now = now_ms()
        moving: set[str] = set()
        for entry in reversed(self.loader.cache.entries()):
            if now - entry.last_used > RECENTLY_USED_MS:
                break
            record = self.registry.models.get(entry.model_id)
            alive = self.instances.alive()
            if record is None or any(i != me and i in alive for i in record.loaded_in):
                continue
            if self.locator.add_copy(entry.model_id, f"moved off {me}, which is leaving"):
                moving.add(entry.model_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while moving and loop.time() < deadline:
            alive = self.instances.alive()
            moving = {
                m
                for m in moving
                if (r := self.registry.models.get(m)) is not None
                and not any(i != me and i in alive for i in r.loaded_in)
                and not any(i != me for i in r.recent_failures(now_ms(), 60_000))
            }
            await asyncio.sleep(0.05)
        if moving:
            log.warning("left before %d model(s) finished loading elsewhere", len(moving))
        for model_id in list(self.loader.copies):
            with contextlib.suppress(MeshError):
                await self.registry.models.update(
                    model_id, lambda r: r.without_copy(me) if r is not None else None
                )

    async def stop(self, grace_s: float = 5.0) -> None:
        if self.front is not None:
            await self.front.stop()
        await self.server.stop(grace_s)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.locator.close()
        await self.loader.close()
        await self.instances.stop()
        await self.registry.stop()
        await self.peers.close()
        await self.runtime.close()
        if self.owns_store:
            await self.store.close()


async def open_store(settings: Settings) -> tuple[KVStore, str]:
    """The configured store and the root prefix of the mesh's keys (etcd's ``root_prefix``)."""
    if settings.kv.kind == "embedded":
        return await EmbeddedStore.open(Path(settings.kv.target)), ""
    try:
        config = parse_etcd_target(settings.kv.target)
    except EtcdConfigError as exc:
        raise SettingsError(f"KV_STORE=etcd:...: {exc}") from None
    try:
        return await EtcdStore.connect(config), config.root_prefix
    except KVError as exc:
        raise Unavailable(f"cannot use etcd: {exc}") from exc


def build_runtime(settings: Settings) -> tuple[RuntimeClient, frozenset[str]]:
    """The runtime client and the labels this instance gets from its runtime."""
    if settings.runtime.kind == "grpc":
        client = GrpcRuntimeClient(
            settings.runtime.management,
            settings.runtime.serving,
            max_message_bytes=settings.grpc.max_message_bytes,
        )
        return client, settings.labels
    from ..runtimes.python.inprocess import InProcessRuntimeClient
    from ..runtimes.python.runtime import PythonRuntime
    from ..runtimes.python.settings import RuntimeSettings

    runtime = PythonRuntime(RuntimeSettings.from_env(settings.environ))
    return InProcessRuntimeClient(runtime), settings.labels | labels_for_formats(
        runtime.model_types
    )


async def wait_until_ready(runtime: RuntimeClient, timeout_s: float) -> RuntimeInfo:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last_error = "not ready"
    while True:
        try:
            info = await runtime.status()
            if info.ready:
                return info
        except MeshError as exc:
            last_error = exc.message
        except Exception as exc:  # the runtime may not listen yet
            last_error = str(exc)
        if loop.time() >= deadline:
            raise Unavailable(
                f"the model runtime did not become ready in {timeout_s:.0f} s: {last_error}"
            )
        await asyncio.sleep(_RUNTIME_POLL_S)


class _CacheToInstance(MeshObserver):
    """Republishes the instance record when the local cache changes."""

    def __init__(self, instances: Instances) -> None:
        self._instances = instances

    def cache_changed(self, capacity: int, used: int, models: int, lru_time_ms: int) -> None:
        self._instances.changed()


def _instance_snapshot(
    settings: Settings, loader: Loader, labels: frozenset[str], started: int
) -> Callable[[str], InstanceRecord]:
    def snapshot(address: str) -> InstanceRecord:
        cache = loader.cache
        return InstanceRecord(
            address=address,
            capacity=cache.capacity,
            used=cache.used,
            lru_time=cache.oldest_last_used() or 0,
            model_count=len(cache),
            loading_threads=loader.info.max_loading_concurrency,
            loads_in_progress=loader.pending_loads,
            start_time=started,
            version=__version__,
            location=settings.cluster.location,
            zone=settings.cluster.zone,
            labels=tuple(sorted(labels)),
        )

    return snapshot


async def _mesh_token(store: KVStore, layout: KeyLayout) -> str:
    """The secret every instance of this mesh shares (made by the first one to start),
    which tells forwarded requests from clients' requests."""
    key = layout.config("hopToken")
    try:
        for _ in range(3):
            current = await store.get(key)
            if current is not None:
                return current.value.decode()
            token = secrets.token_hex(16)
            if await store.put(key, token.encode(), expected_revision=0) is not None:
                return token
    except KVError as exc:
        raise Unavailable(f"KV store unavailable at start: {exc}") from exc
    raise Unavailable("could not agree on the mesh's shared token; try again")


async def start_mesh(
    settings: Settings,
    *,
    runtime: RuntimeClient | None = None,
    labels: frozenset[str] | None = None,
    observer: MeshObserver | None = None,
    store: KVStore | None = None,
) -> MeshApp:
    """Start one instance. ``store``: share an open store (several instances in one
    process, as tests do); otherwise the instance opens and owns the configured one."""
    observer, metrics = build_observers(settings, observer)
    owns_store = store is None
    kv, root_prefix = (store, "") if store is not None else await open_store(settings)
    try:
        layout = KeyLayout.for_service(
            root_prefix=root_prefix,
            kv_prefix=settings.kv.prefix,
            service_name=settings.kv.service_name,
        )
        registry = Registry(kv, layout)
        await registry.start()
        if runtime is None:
            runtime, labels = build_runtime(settings)
        labels = labels if labels is not None else settings.labels
        info = await wait_until_ready(runtime, settings.runtime.startup_timeout_s)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", settings.grpc.max_message_bytes),
                ("grpc.max_send_message_length", settings.grpc.max_message_bytes),
                # grpc rejects headers between the soft and the absolute size at random:
                # the same number for both makes the limit exact
                ("grpc.max_metadata_size", settings.grpc.max_header_bytes),
                ("grpc.absolute_max_metadata_size", settings.grpc.max_header_bytes),
                ("grpc.so_reuseport", 0),
            ]
        )
        tls = MeshTls(settings.tls) if settings.tls.enabled else None
        listen = f"{settings.grpc.host}:{settings.grpc.port}"
        try:
            if tls is None:
                port = server.add_insecure_port(listen)
            else:
                port = server.add_secure_port(listen, tls.server_credentials())
        except RuntimeError as exc:  # grpc raises when the address can't be bound
            raise Unavailable(f"cannot listen on port {settings.grpc.port}: is it in use?") from exc
        address = f"{settings.cluster.advertise_host}:{port}"
        loader = Loader(
            runtime=runtime,
            info=info,
            registry=registry,
            instance_id=settings.instance_id,
            labels=labels,
            settings=settings.cache,
            load_queue=settings.limits.load_queue,
        )
        snapshot = _instance_snapshot(settings, loader, labels, now_ms())
        instances = Instances(
            kv,
            layout,
            instance_id=settings.instance_id,
            lease_ttl_s=settings.cluster.lease_ttl_s,
            snapshot=lambda: snapshot(address),
        )
        loader.observer = Observers(
            [_CacheToInstance(instances), *([observer] if observer else [])]
        )
        janitor = Janitor(
            registry=registry,
            loader=loader,
            instances=instances,
            failure_expiry_ms=settings.cache.load_failure_expiry_ms,
            interval_s=settings.cluster.janitor_interval_s,
        )
        await janitor.forget_copies_not_here()
        await instances.start()
        peers = Peers(
            max_message_bytes=settings.grpc.max_message_bytes,
            token=await _mesh_token(kv, layout),
            tls=tls,
        )
        locator = Locator(
            registry=registry,
            loader=loader,
            instances=instances,
            peers=peers,
            failure_expiry_ms=settings.cache.load_failure_expiry_ms,
            default_model_size=info.default_model_size,
        )
        models = ModelService(
            registry=registry,
            loader=loader,
            locator=locator,
            settings=settings.cache,
            observer=observer,
        )
        vmodels = VModelService(registry=registry, models=models, loader=loader)
        election = LeaderElection(
            kv, layout, instance_id=settings.instance_id, ttl_s=settings.cluster.lease_ttl_s
        )
        scaler = Scaler(
            registry=registry,
            instances=instances,
            locator=locator,
            rpm_threshold=settings.cluster.scaleup_rpm_threshold,
        )
        router = Router(
            registry=registry,
            loader=loader,
            vmodels=vmodels,
            runtime=runtime,
            info=info,
            dataplane=settings.dataplane,
            allow_other_rpcs=settings.allow_other_rpcs,
            instances=instances,
            peers=peers,
            locator=locator,
            scaler=scaler,
            observer=observer,
            limits=settings.limits,
        )
        # the ModelMesh API parses its requests itself: bad bytes are INVALID_ARGUMENT
        server.add_generic_rpc_handlers(
            (
                parsed_service(
                    pb.DESCRIPTOR.services_by_name["ModelMesh"],
                    ModelMeshServicer(models, vmodels),
                ),
                parsed_service(
                    admin_pb.DESCRIPTOR.services_by_name["ModelMeshAdmin"],
                    ModelMeshAdminServicer(models, vmodels, election),
                ),
            )
        )
        front = Frontends(settings, store=kv, probe_key=layout.registry_prefix, tls=tls)
        front.add_grpc_services(server)  # before the proxy, which claims every other method
        server.add_generic_rpc_handlers(
            (InferenceProxy(router, ready=front.readiness.is_ready, version=__version__),)
        )
        await server.start()
        try:
            await front.start(router, metrics)
        except BaseException:
            await server.stop(0)
            raise
    except BaseException:
        if owns_store:
            await kv.close()
        raise
    app = MeshApp(
        settings,
        kv,
        registry,
        runtime,
        loader,
        instances,
        peers,
        locator,
        models,
        vmodels,
        server,
        port,
        owns_store,
        front=front,
        scaler=scaler,
    )
    reaper = Reaper(
        registry=registry,
        instances=instances,
        locator=locator,
        election=election,
        gone_after_ms=settings.cluster.instance_gone_after_ms,
        interval_s=settings.cluster.reaper_interval_s,
    )
    for work in (vmodels.run(), election.run(), reaper.run(), janitor.run(), scaler.run()):
        app.tasks.append(asyncio.create_task(work))
    log.info("mesh instance %s serving on port %d", settings.instance_id, port)
    return app


async def _register_demo(app: MeshApp) -> None:
    from ..runtimes.python.settings import RuntimeSettings
    from .demo import prepare_demo

    models_root = RuntimeSettings.from_env(app.settings.environ).models_root
    demo = await asyncio.to_thread(prepare_demo, models_root, address=f"localhost:{app.port}")
    status = await app.models.register(
        demo.model_id,
        pb.ModelInfo(type=demo.model_type, path=demo.path),
        load_now=True,
        sync=True,
    )
    state = pb.ModelStatusInfo.ModelStatus.Name(status.status)
    print(f"\ndemo model {demo.model_id!r} registered: {state}", file=sys.stderr)
    print(
        f"get a prediction through the mesh on port {app.port}:\n\n  {demo.command}\n",
        file=sys.stderr,
    )


async def serve_forever(settings: Settings, *, demo: bool = False) -> None:
    configure_logging(settings.logs)
    app = await start_mesh(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if demo:
            await _register_demo(app)
        await stop.wait()
        log.info("shutting down: moving recently used models to other instances")
        await app.drain(max(settings.shutdown_timeout_s - 5, 1.0))
    finally:
        log.info("stopping: finishing requests in flight")
        with contextlib.suppress(Exception):
            await app.stop(min(settings.shutdown_timeout_s, 30.0))
