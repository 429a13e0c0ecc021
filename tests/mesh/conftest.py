"""Fixtures for mesh tests: real mesh instances on loopback with the built-in runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from modelmesh.mesh.app import MeshApp, start_mesh
from modelmesh.mesh.settings import Settings
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from tests.support.models import write_sklearn

StartMesh = Callable[..., Awaitable[MeshApp]]


@pytest.fixture
def mesh_models(tmp_path: Path) -> Path:
    """A models root with a small digits classifier at sklearn/model.joblib."""
    root = tmp_path / "models"
    write_sklearn(root / "sklearn")
    return root


@pytest.fixture
async def start(tmp_path: Path, mesh_models: Path) -> AsyncIterator[StartMesh]:
    """Start a mesh (embedded store in tmp_path, in-process runtime); stopped at the end."""
    apps: list[MeshApp] = []

    async def _start(**env: str) -> MeshApp:
        base = {
            "MM_DATA_DIR": str(tmp_path / "data"),
            "MM_SVC_GRPC_PORT": "0",
            "ROOT_MODEL_DIR": str(mesh_models),
            "CONTAINER_MEM_REQ_BYTES": str(512 * 1024 * 1024),
            "MEM_BUFFER_BYTES": "0",
        }
        app = await start_mesh(Settings.from_env({**base, **env}))
        apps.append(app)
        return app

    yield _start
    for app in apps:
        await app.stop(0)


class Clients:
    def __init__(self, app: MeshApp) -> None:
        self.channel = grpc.aio.insecure_channel(app.address)
        self.mesh = mm_grpc.ModelMeshStub(self.channel)
        self.v2 = v2_grpc.GRPCInferenceServiceStub(self.channel)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[MeshApp], Clients]]:
    made: list[Clients] = []

    def _clients(app: MeshApp) -> Clients:
        made.append(Clients(app))
        return made[-1]

    yield _clients
    for c in made:
        await c.channel.close()
