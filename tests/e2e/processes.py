"""`modelmesh serve` processes sharing one etcd, run the way a Deployment runs them.

``MeshCluster`` starts instances on free ports, each with its own log file, waits until
they serve, and stops them the ways a cluster does: SIGTERM (a rolling restart, a
scale-down) or SIGKILL (a lost node). ``endpoints()`` is what a Kubernetes Service routes
to: instances started and not yet told to stop. ``registry()`` reads the model records
from etcd as the mesh wrote them. ``logs()`` gathers the tails of every instance's log,
for a failing test to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from modelmesh.mesh.kv.etcd import EtcdStore
from modelmesh.mesh.kv.etcd_config import parse_etcd_target
from modelmesh.mesh.kv.keys import KeyLayout
from modelmesh.mesh.records import ModelRecord
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from tests.support.etcd import free_ports

CLI = Path(sys.executable).parent / "modelmesh"
START_TIMEOUT_S = 60.0
MIB = 1024 * 1024
# retry connecting every 100 ms, not after grpc's default backoff of 1 s growing to 2 min:
# a client notices a started (or restarted) instance at once
FAST_RECONNECT = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


class PortTaken(RuntimeError):
    """The instance exited because its gRPC port was taken after it was picked."""


@dataclass
class MeshProcess:
    """One `modelmesh serve`; ``name`` plays the pod name (the instance id is its last
    12 characters)."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    # a Service routes to it: started, and not yet told to stop
    in_service: bool = False
    started_at: float = 0.0

    @property
    def instance_id(self) -> str:
        return self.name[-12:]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CLI), "serve"],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.started_at = time.monotonic()

    async def wait_serving(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until the instance answers ServerLive; raises with its log if it exits first."""
        deadline = time.monotonic() + timeout_s
        async with grpc.aio.insecure_channel(self.address, options=FAST_RECONNECT) as channel:
            stub = v2_grpc.GRPCInferenceServiceStub(channel)
            while True:
                if not self.running:
                    tail = self.log_tail()
                    error = PortTaken if f"port {self.port}: is it in use" in tail else RuntimeError
                    raise error(f"instance {self.name} exited:\n{tail}")
                try:
                    await stub.ServerLive(v2.ServerLiveRequest(), timeout=1)
                    self.in_service = True
                    return
                except grpc.aio.AioRpcError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"instance {self.name} not serving after {timeout_s} s:\n"
                            f"{self.log_tail()}"
                        ) from None
                    await asyncio.sleep(0.1)

    def terminate(self) -> None:
        """SIGTERM, as Kubernetes stops a pod; the Service stops routing to it at once."""
        self.in_service = False
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: no goodbye. The Service keeps routing to it (it has not noticed yet)."""
        if self.process is not None and self.running:
            self.process.kill()
            self.process.wait()

    async def wait_exit(self, timeout_s: float) -> int:
        """The exit code; raises TimeoutError (with the log) if it is still running."""
        deadline = time.monotonic() + timeout_s
        assert self.process is not None
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"instance {self.name} still running {timeout_s} s after SIGTERM:\n"
                    f"{self.log_tail()}"
                )
            await asyncio.sleep(0.05)
        return code

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:]) or "(empty log)"


@dataclass
class MeshCluster:
    """Instances of one mesh on the etcd at ``etcd_target`` (what follows ``etcd:``)."""

    directory: Path
    etcd_target: str
    models_root: Path
    # added to every instance's environment (capacity, lease and task intervals, ...)
    env: Mapping[str, str] = field(default_factory=dict)
    instances: list[MeshProcess] = field(default_factory=list)

    def _new(self, env: Mapping[str, str]) -> MeshProcess:
        index = len(self.instances)
        name = f"mesh-{index}"
        (grpc_port,) = free_ports(1)
        env = {
            "KV_STORE": f"etcd:{self.etcd_target}",
            "WKUBE_POD_NAME": name,
            "MM_SVC_GRPC_PORT": str(grpc_port),
            # nobody here calls these: each picks a free port of its own
            "REST_PROXY_LISTEN_PORT": "0",
            "MM_PROBE_PORT": "0",
            "MM_METRICS": "prometheus:port=0",
            "MM_DATA_DIR": str(self.directory / name),
            "ROOT_MODEL_DIR": str(self.models_root),
            "PYTHONUNBUFFERED": "1",
            **self.env,
            **env,
        }
        process = MeshProcess(name, grpc_port, env, self.directory / f"{name}.log")
        self.instances.append(process)
        return process

    async def start(
        self, count: int = 1, env: Mapping[str, str] | None = None
    ) -> list[MeshProcess]:
        """Start ``count`` instances at once (``env``: added to theirs) and wait until every
        one serves."""
        started = [self._new(env or {}) for _ in range(count)]
        await asyncio.gather(*(self._start(p) for p in started))
        return started

    async def _start(self, process: MeshProcess, tries: int = 3) -> None:
        """Start and wait; a port taken by someone else since it was picked gets a new one."""
        for attempt in range(tries):
            process.start()
            try:
                await process.wait_serving()
                return
            except PortTaken:
                if attempt == tries - 1:
                    raise
                (port,) = free_ports(1)
                process.port = port
                process.env["MM_SVC_GRPC_PORT"] = str(port)

    async def replace(self, old: MeshProcess, *, exit_timeout_s: float) -> MeshProcess:
        """One step of a rolling update (maxSurge 1, maxUnavailable 0): a new instance
        first, then SIGTERM to the old one, which must exit within ``exit_timeout_s``."""
        (new,) = await self.start(1)
        old.terminate()
        code = await old.wait_exit(exit_timeout_s)
        if code != 0:
            raise RuntimeError(f"{old.name} exited with {code} after SIGTERM:\n{old.log_tail()}")
        return new

    def endpoints(self) -> list[str]:
        return [p.address for p in self.instances if p.in_service]

    def running(self) -> list[MeshProcess]:
        return [p for p in self.instances if p.running]

    def count_in_logs(self, pattern: str) -> int:
        """Lines matching the regular expression, over every instance's log."""
        regex = re.compile(pattern)
        return sum(
            1 for p in self.instances for line in p.log_text().splitlines() if regex.search(line)
        )

    def logs(self, lines: int = 40) -> str:
        return "\n\n".join(
            f"----- {p.name} ({'running' if p.running else 'exited'}) {p.log_path}\n"
            f"{p.log_tail(lines)}"
            for p in self.instances
        )

    async def registry(self) -> dict[str, ModelRecord]:
        """Every model record in etcd, by model id."""
        layout = KeyLayout.for_service()
        store = await EtcdStore.connect(parse_etcd_target(self.etcd_target))
        try:
            items, _ = await store.range(layout.registry_prefix)
        finally:
            await store.close()
        prefix = len(layout.registry_prefix)
        return {item.key[prefix:]: ModelRecord.from_json(item.value) for item in items}

    def close(self) -> None:
        for process in self.instances:
            with contextlib.suppress(OSError):
                process.kill()
