"""The mesh driving a runtime over upstream's ModelRuntime protocol (a separate gRPC server),
as it would any third-party runtime or adapter: model id injection, sizes, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.mesh.app import MeshApp
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.server import start_runtime_servers
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import StartMesh
from tests.support.models import digits

Status = pb.ModelStatusInfo.ModelStatus


@pytest.fixture
async def runtime_socket(tmp_path: Path, mesh_models: Path) -> AsyncIterator[Path]:
    """The built-in runtime as its own gRPC server on a unix socket."""
    socket = tmp_path / "runtime.sock"
    runtime = PythonRuntime(RuntimeSettings.from_env({"ROOT_MODEL_DIR": str(mesh_models)}))
    servers = await start_runtime_servers(
        runtime, management_address=f"unix:{socket}", serving_address=f"unix:{socket}"
    )
    yield socket
    await servers.stop(0)


async def _mesh(start: StartMesh, socket: Path) -> MeshApp:
    return await start(MM_RUNTIME="grpc", INTERNAL_GRPC_SOCKET_PATH=str(socket))


async def test_vmodel_name_is_replaced_by_the_concrete_id(
    start: StartMesh, clients, runtime_socket: Path
) -> None:
    app = await _mesh(start, runtime_socket)
    c = clients(app)
    await c.mesh.setVModel(
        pb.SetVModelRequest(
            vModelId="digits-isvc",
            targetModelId="digits-isvc__isvc-abc123",
            modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"),
            loadNow=True,
            sync=True,
        )
    )
    reply = await c.v2.ModelInfer(
        build_infer_request("digits-isvc", {"x": np.asarray(digits()[0][:3])})
    )
    # the runtime saw the injected concrete id, as upstream clients expect
    assert reply.model_name == "digits-isvc__isvc-abc123"
    assert app.loader.cache.get("digits-isvc__isvc-abc123").size > 1000  # type: ignore[union-attr]


async def test_runtime_errors_pass_through_with_their_code(
    start: StartMesh, clients, runtime_socket: Path
) -> None:
    c = clients(await _mesh(start, runtime_socket))
    status = await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId="escape",
            modelInfo=pb.ModelInfo(type="sklearn", path="../../etc/passwd"),
            loadNow=True,
            sync=True,
        )
    )
    assert status.status == Status.LOADING_FAILED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.v2.ModelInfer(build_infer_request("escape", {"x": np.asarray(digits()[0][:1])}))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId="ok", modelInfo=pb.ModelInfo(type="sklearn", path="sklearn")
        )
    )
    bad = build_infer_request("ok", {"x": np.zeros((1, 3), np.float32)})  # wrong feature count
    with pytest.raises(grpc.aio.AioRpcError) as shape:
        await c.v2.ModelInfer(bad)
    assert shape.value.code() == grpc.StatusCode.INVALID_ARGUMENT
