"""Our side: one ``modelmesh serve`` (embedded store, built-in runtime in-process) on free
ports, driven through its public APIs only: ``ModelMesh`` gRPC to register, KServe V2 gRPC
and REST to infer, Prometheus ``/metrics`` for what it loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import grpc

from bench.peers.process import ServerProcess
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2 as mm
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import RuntimeSettings
from tests.support.etcd import free_ports

CLI = Path(sys.executable).parent / "modelmesh"


async def model_size(models_root: Path, path: str) -> int:
    """The bytes the built-in runtime reports for the model file at ``path``, as it does
    after its one-time imports (the first load of a process pays those)."""
    runtime = PythonRuntime(RuntimeSettings.from_env({"ROOT_MODEL_DIR": str(models_root)}))
    try:
        await runtime.load("first", "sklearn", path, "")
        return await runtime.load("second", "sklearn", path, "")
    finally:
        await runtime.close()


class Mesh:
    def __init__(
        self, directory: Path, models_root: Path, env: Mapping[str, str] | None = None
    ) -> None:
        grpc_port, rest_port, probe_port, metrics_port = free_ports(4)
        self.grpc_address = f"127.0.0.1:{grpc_port}"
        self.rest_url = f"http://127.0.0.1:{rest_port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.process = ServerProcess(
            "modelmesh",
            [str(CLI), "serve"],
            {
                "MM_SVC_GRPC_PORT": str(grpc_port),
                "REST_PROXY_LISTEN_PORT": str(rest_port),
                "MM_PROBE_PORT": str(probe_port),
                "MM_METRICS": f"prometheus:port={metrics_port}",
                "MM_DATA_DIR": str(directory / "mesh"),
                "ROOT_MODEL_DIR": str(models_root),
                "PYTHONUNBUFFERED": "1",
                **(env or {}),
            },
            directory / "modelmesh.log",
        )
        self._channel: grpc.aio.Channel | None = None

    async def start(self) -> float:
        """Start it; seconds until it answers ServerLive."""
        self.process.start()
        self._channel = grpc.aio.insecure_channel(self.grpc_address)
        live = v2_grpc.GRPCInferenceServiceStub(self._channel).ServerLive

        async def ready() -> bool:
            return (await live(v2.ServerLiveRequest(), timeout=1)).live

        return await self.process.wait_until(ready)

    def stop(self) -> None:
        self.process.stop()

    @property
    def channel(self) -> grpc.aio.Channel:
        assert self._channel is not None, "start() first"
        return self._channel

    async def register(self, model_id: str, path: str, *, load: bool, sync: bool) -> int:
        """registerModel; the status it answers with (a ModelStatusInfo.Status)."""
        status = await mm_grpc.ModelMeshStub(self.channel).registerModel(
            mm.RegisterModelRequest(
                modelId=model_id,
                modelInfo=mm.ModelInfo(type="sklearn", path=path),
                loadNow=load,
                sync=sync,
            ),
            timeout=120,
        )
        return int(status.status)

    async def metrics(self, session: aiohttp.ClientSession) -> dict[str, float]:
        """Unlabelled samples of /metrics, by name (counters and histogram sums/counts)."""
        async with session.get(self.metrics_url) as response:
            text = await response.text()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples
