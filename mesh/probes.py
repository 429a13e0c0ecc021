"""Is this instance ready? ``/ready`` and ``/live`` on ``MM_PROBE_PORT`` (8089), as upstream.

Ready means the runtime reported READY at start-up (``app.py`` waits for that before
anything listens), the KV store answers a read within ``timeout_s``, and the instance is
not shutting down. The runtime is not asked again: ``runtimeStatus`` is a start-up call in
the protocol, and runtimes purge their models when they get it. Live means the process
serves HTTP at all. The gRPC health status follows readiness (``keep_health``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from grpc_health.v1 import health_pb2

from .aio import within
from .kv.store import KVStore

log = logging.getLogger(__name__)

HEALTH_INTERVAL_S = 5.0


class Readiness:
    def __init__(self, store: KVStore, *, probe_key: str, timeout_s: float = 2.0) -> None:
        self._store = store
        self._probe_key = probe_key
        self._timeout_s = timeout_s
        self.draining = False
        # the last check's answer, for callers that can't await one
        self.ready = False

    def is_ready(self) -> bool:
        return self.ready and not self.draining

    async def check(self) -> list[str]:
        """Why this instance is not ready (nothing: it is)."""
        problems = []
        if self.draining:
            problems.append("the instance is shutting down")
        try:
            await within(self._store.get(self._probe_key), self._timeout_s)
        except TimeoutError:
            problems.append(f"the KV store did not answer within {self._timeout_s:g} s")
        except Exception as exc:
            problems.append(f"the KV store is not reachable: {exc}")
        self.ready = not problems
        return problems


def probe_app(readiness: Readiness) -> web.Application:
    async def ready(_: web.Request) -> web.Response:
        problems = await readiness.check()
        if problems:
            return web.Response(status=503, text="not ready: " + "; ".join(problems) + "\n")
        return web.Response(text="ready\n")

    async def live(_: web.Request) -> web.Response:
        return web.Response(text="live\n")

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/live", live)
    return app


async def keep_health(
    readiness: Readiness,
    set_status: Callable[[int], Awaitable[None]],
    interval_s: float = HEALTH_INTERVAL_S,
) -> None:
    """Check readiness every ``interval_s`` and report it as SERVING or NOT_SERVING."""
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    last = None
    while True:
        problems = await readiness.check()
        status = not_serving if problems else serving
        if status != last:
            if problems:
                log.warning("not ready: %s", "; ".join(problems))
            await set_status(status)
            last = status
        await asyncio.sleep(interval_s)
