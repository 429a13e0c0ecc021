"""What serves beside the mesh's gRPC API: KServe V2 REST (8008), probes (8089), Prometheus
metrics (2112), and the gRPC health status that follows readiness.

``app.py`` makes a ``Frontends`` while it builds the gRPC server (``add_grpc_services``
must come before the inference proxy), calls ``start`` once that server is up, and
``stop`` first on the way down: readiness and health turn off, then the ports close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc

from .. import __version__
from .api.health import Health
from .api.rest import rest_app
from .forwarding import Router
from .kv.store import KVStore
from .observe import MetricsObserver, metrics_app
from .probes import Readiness, keep_health, probe_app
from .settings import Settings
from .tls import MeshTls
from .webserver import HttpServer, server_ssl_context, start_http

log = logging.getLogger(__name__)

_MAX_DRAIN_S = 30.0


class Frontends:
    def __init__(
        self, settings: Settings, *, store: KVStore, probe_key: str, tls: MeshTls | None = None
    ) -> None:
        self.settings = settings
        # https on the REST port (the probes stay plain http for the kubelet)
        self.tls = tls
        self.readiness = Readiness(store, probe_key=probe_key)
        self.health: Health | None = None
        self.servers: list[HttpServer] = []
        self.rest_port = self.probe_port = self.metrics_port = 0
        self._health_task: asyncio.Task[None] | None = None

    def add_grpc_services(self, server: grpc.aio.Server) -> None:
        """Health and reflection on the mesh's gRPC server (before the inference proxy)."""
        self.health = Health(server)

    async def start(self, router: Router, metrics: MetricsObserver | None) -> None:
        settings = self.settings
        host = settings.http.host
        drain_s = min(settings.shutdown_timeout_s, _MAX_DRAIN_S)
        readiness = self.readiness

        async def ready() -> bool:
            return not await readiness.check()

        try:
            await readiness.check()
            if self.health is not None:
                self._health_task = asyncio.create_task(
                    keep_health(readiness, self.health.set_status)
                )
            probes = await start_http(
                probe_app(readiness), host, settings.http.probe_port, what="the probes"
            )
            self.servers.append(probes)
            rest = await start_http(
                rest_app(
                    router,
                    max_body_bytes=settings.grpc.max_message_bytes,
                    version=__version__,
                    ready=ready,
                ),
                host,
                settings.http.rest_port,
                what="REST",
                ssl_context=self.tls.ssl_context() if self.tls is not None else None,
                shutdown_timeout_s=drain_s,
            )
            self.servers.append(rest)
            self.probe_port, self.rest_port = probes.port, rest.port
            if metrics is not None:
                metrics.bind(
                    cache=router.loader.cache,
                    registry=router.registry,
                    failure_expiry_ms=settings.cache.load_failure_expiry_ms,
                )
                m = settings.metrics
                # https: the instance's certificate (no client certificates asked for, so
                # Prometheus can scrape), else a self-signed one, as upstream
                tls = (
                    server_ssl_context(settings.tls.cert_path, settings.tls.key_path)
                    if m.scheme == "https"
                    else None
                )
                served = await start_http(
                    metrics_app(metrics), host, m.port, what="metrics", ssl_context=tls
                )
                self.servers.append(served)
                self.metrics_port = served.port
        except BaseException:
            await self.stop()
            raise
        log.info(
            "REST on port %d, probes on port %d, metrics on port %s",
            self.rest_port,
            self.probe_port,
            self.metrics_port or "- (disabled)",
        )

    async def stop(self) -> None:
        self.readiness.draining = True
        if self.health is not None:
            await self.health.shut_down()
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        for server in reversed(self.servers):
            await server.stop()
        self.servers.clear()
