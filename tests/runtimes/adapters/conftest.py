"""Fixtures of the adapter tests: the real servers (one per session), an adapter in front of
one (its ``ModelRuntime`` on a free loopback port), and a mesh driving that adapter over
gRPC (``MM_RUNTIME=grpc``), as a deployment would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from modelmesh.mesh.app import MeshApp, start_mesh
from modelmesh.mesh.settings import Settings
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from modelmesh.runtimes.adapters.base import AdapterRuntime
from modelmesh.runtimes.adapters.server import make_adapter, start_adapter_server
from modelmesh.runtimes.adapters.settings import AdapterSettings
from modelmesh.runtimes.python.errors import RuntimeFailure
from tests.runtimes.adapters.servers import (
    RunningServer,
    start_mlserver,
    start_torchserve,
    start_triton,
)

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def mlserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_mlserver(tmp_path_factory.mktemp("mlserver"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_triton(tmp_path_factory.mktemp("triton"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_torchserve(tmp_path_factory.mktemp("torchserve"))
    yield server
    server.stop()


@dataclass
class Adapter:
    address: str
    settings: AdapterSettings
    runtime: AdapterRuntime
    channel: grpc.aio.Channel

    @property
    def stub(self) -> mr_grpc.ModelRuntimeStub:
        return mr_grpc.ModelRuntimeStub(self.channel)

    @property
    def port(self) -> str:
        return self.address.rsplit(":", 1)[1]


StartAdapter = Callable[..., Awaitable[Adapter]]


@pytest.fixture
async def start_adapter(tmp_path: Path) -> AsyncIterator[StartAdapter]:
    """Start an adapter for ``server`` (``mlserver``, ...) in front of ``running``; extra
    keyword arguments are environment variables."""
    started: list[tuple[grpc.aio.Server, Adapter]] = []

    async def _start(server: str, running: RunningServer | None, **env: str) -> Adapter:
        base = {
            "ROOT_MODEL_DIR": str(tmp_path / "models"),
            "CONTAINER_MEM_REQ_BYTES": str(512 * MiB),
            "MEM_BUFFER_BYTES": "0",
            "LOADTIME_TIMEOUT": "60000",
        }
        if running is not None:
            base |= {
                "SERVER_REPOSITORY_DIR": str(running.repository),
                "SERVER_HTTP_ENDPOINT": running.http_url,
                "INTERNAL_SERVING_GRPC_PORT": str(running.grpc_port),
            }
        settings = AdapterSettings.from_env({**base, **env}, server)
        runtime = AdapterRuntime(make_adapter(settings), settings)
        grpc_server, address = await start_adapter_server(runtime, "127.0.0.1:0")
        adapter = Adapter(address, settings, runtime, grpc.aio.insecure_channel(address))
        started.append((grpc_server, adapter))
        return adapter

    yield _start
    for grpc_server, adapter in started:
        await adapter.channel.close()
        await grpc_server.stop(0)
        # a server that never came up holds nothing to unload
        with contextlib.suppress(RuntimeFailure):
            await adapter.runtime.purge()
        await adapter.runtime.close()


@dataclass
class Mesh:
    app: MeshApp
    channel: grpc.aio.Channel

    @property
    def mesh(self) -> mm_grpc.ModelMeshStub:
        return mm_grpc.ModelMeshStub(self.channel)

    @property
    def v2(self) -> v2_grpc.GRPCInferenceServiceStub:
        return v2_grpc.GRPCInferenceServiceStub(self.channel)


StartMesh = Callable[[Adapter], Awaitable[Mesh]]


@pytest.fixture
async def start_mesh_on(tmp_path: Path) -> AsyncIterator[StartMesh]:
    """A single-machine mesh (embedded store) driving ``adapter`` over gRPC, inference
    going to the adapter's server."""
    meshes: list[Mesh] = []

    async def _start(adapter: Adapter) -> Mesh:
        env = {
            "MM_DATA_DIR": str(tmp_path / f"mesh{len(meshes)}"),
            "MM_SVC_GRPC_PORT": "0",
            "MM_RUNTIME": "grpc",
            "INTERNAL_GRPC_PORT": adapter.port,
            "INTERNAL_SERVING_GRPC_PORT": adapter.settings.serving_address.rsplit(":", 1)[1],
        }
        app = await start_mesh(Settings.from_env(env))
        meshes.append(Mesh(app, grpc.aio.insecure_channel(app.address)))
        return meshes[-1]

    yield _start
    for mesh in meshes:
        await mesh.channel.close()
        await mesh.app.stop(0)
