"""VModels end to end: transitions under traffic, owners, CAS, auto-delete, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import StartMesh
from tests.support.models import digits, write_sklearn

VStatus = pb.VModelStatusInfo.VModelStatus
Status = pb.ModelStatusInfo.ModelStatus


def _info(path: str) -> pb.ModelInfo:
    return pb.ModelInfo(type="sklearn", path=path)


async def test_transition_under_traffic_never_fails_a_request(
    start: StartMesh, clients, mesh_models: Path
) -> None:
    write_sklearn(mesh_models / "b", kind="forest")  # a slower load than A
    c = clients(await start())
    first = await c.mesh.setVModel(
        pb.SetVModelRequest(
            vModelId="v",
            targetModelId="a",
            modelInfo=_info("sklearn"),
            autoDeleteTargetModel=True,
            loadNow=True,
            sync=True,
        )
    )
    assert first.status == VStatus.DEFINED and first.activeModelId == "a"
    request = build_infer_request("v", {"x": np.asarray(digits()[0][:2])})
    served: list[str] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            served.append((await c.v2.ModelInfer(request)).model_name)

    workers = [asyncio.create_task(traffic()) for _ in range(4)]
    await asyncio.sleep(0.1)
    moving = await c.mesh.setVModel(
        pb.SetVModelRequest(
            vModelId="v", targetModelId="b", modelInfo=_info("b"), autoDeleteTargetModel=True
        )
    )
    assert moving.status in (VStatus.TRANSITIONING, VStatus.DEFINED)
    for _ in range(200):
        status = await c.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="v"))
        if status.status == VStatus.DEFINED:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*workers)  # any failed request raises here
    assert status.activeModelId == "b"
    assert served[0] == "a" and served[-1] == "b"
    assert served.index("b") == len(served) - served[::-1].index("a")  # a clean switch
    # a was registered for the vmodel with auto-delete: gone once unused
    gone = await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="a"))
    assert gone.status == Status.NOT_FOUND


async def test_owner_and_expected_target_rules(start: StartMesh, clients) -> None:
    c = clients(await start())
    await c.mesh.registerModel(pb.RegisterModelRequest(modelId="a", modelInfo=_info("sklearn")))
    await c.mesh.registerModel(pb.RegisterModelRequest(modelId="b", modelInfo=_info("sklearn")))
    await c.mesh.setVModel(pb.SetVModelRequest(vModelId="v", targetModelId="a", owner="team1"))
    with pytest.raises(grpc.aio.AioRpcError) as owner:
        await c.mesh.setVModel(pb.SetVModelRequest(vModelId="v", targetModelId="b", owner="team2"))
    assert owner.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as cas:
        await c.mesh.setVModel(
            pb.SetVModelRequest(vModelId="v", targetModelId="b", expectedTargetModelId="zzz")
        )
    assert cas.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    ok = await c.mesh.setVModel(
        pb.SetVModelRequest(vModelId="v", targetModelId="b", expectedTargetModelId="a")
    )
    assert ok.targetModelId == "b" and ok.owner == "team1"
    hidden = await c.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="v", owner="team2"))
    assert hidden.status == VStatus.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as update_only:
        await c.mesh.setVModel(
            pb.SetVModelRequest(vModelId="new", targetModelId="a", updateOnly=True)
        )
    assert update_only.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as missing_target:
        await c.mesh.setVModel(pb.SetVModelRequest(vModelId="w", targetModelId="absent"))
    assert missing_target.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as in_use:
        await c.mesh.unregisterModel(pb.UnregisterModelRequest(modelId="b"))
    assert in_use.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await c.mesh.deleteVModel(pb.DeleteVModelRequest(vModelId="v", owner="team1"))
    assert (
        await c.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="v"))
    ).status == VStatus.NOT_FOUND


async def test_failed_target_keeps_active_serving(
    start: StartMesh, clients, mesh_models: Path
) -> None:
    c = clients(await start())
    (mesh_models / "bad").mkdir()
    (mesh_models / "bad" / "model.joblib").write_bytes(b"garbage")
    await c.mesh.setVModel(
        pb.SetVModelRequest(
            vModelId="v", targetModelId="good", modelInfo=_info("sklearn"), loadNow=True, sync=True
        )
    )
    status = await c.mesh.setVModel(
        pb.SetVModelRequest(vModelId="v", targetModelId="bad", modelInfo=_info("bad"), sync=True)
    )
    assert status.status == VStatus.TRANSITION_FAILED
    assert (
        status.activeModelId == "good" and status.targetModelStatus.status == Status.LOADING_FAILED
    )
    request = build_infer_request("v", {"x": np.asarray(digits()[0][:1])})
    assert (await c.v2.ModelInfer(request)).model_name == "good"


async def test_registrations_and_vmodels_survive_a_restart(start: StartMesh, clients) -> None:
    app = await start()
    c = clients(app)
    await c.mesh.registerModel(
        pb.RegisterModelRequest(modelId="m", modelInfo=_info("sklearn"), loadNow=True, sync=True)
    )
    await c.mesh.setVModel(pb.SetVModelRequest(vModelId="v", targetModelId="m", owner="me"))
    await app.stop(0)

    again = clients(await start())
    status = await again.mesh.getModelStatus(pb.GetStatusRequest(modelId="m"))
    assert status.status == Status.NOT_LOADED  # registered, not loaded: the runtime restarted
    vm = await again.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="v"))
    assert (vm.status, vm.activeModelId, vm.owner) == (VStatus.DEFINED, "m", "me")
    request = build_infer_request("v", {"x": np.asarray(digits()[0][:1])})
    assert (await again.v2.ModelInfer(request)).model_name == "m"
