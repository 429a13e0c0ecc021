"""The mesh on one machine, end to end over real gRPC: routing, loading, errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.mesh.conftest import Clients, StartMesh
from tests.support.models import digits, write_sklearn

Status = pb.ModelStatusInfo.ModelStatus
ROWS = digits()[0][:4]
LABELS = digits()[1][:4]


def _infer(name: str) -> v2.ModelInferRequest:
    return build_infer_request(name, {"x": np.asarray(ROWS)})


async def _register(
    c: Clients, model_id: str, path: str = "sklearn", **kw: bool
) -> pb.ModelStatusInfo:
    return await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId=model_id, modelInfo=pb.ModelInfo(type="sklearn", path=path), **kw
        )
    )


async def test_v2_client_setting_only_model_name_gets_predictions(
    start: StartMesh, clients
) -> None:
    c = clients(await start())
    await _register(c, "digits")
    reply = await c.v2.ModelInfer(_infer("digits"))
    assert reply.model_name == "digits"
    predicted = response_arrays(reply)["predict"]
    assert (predicted == LABELS).mean() >= 0.75
    status = await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="digits"))
    assert status.status == Status.LOADED
    assert [copy.copyStatus for copy in status.modelCopyInfos] == [Status.LOADED]


async def test_routing_headers(start: StartMesh, clients) -> None:
    c = clients(await start())
    await _register(c, "m1")
    await c.mesh.setVModel(pb.SetVModelRequest(vModelId="alias", targetModelId="m1"))
    nameless = _infer("")
    by_model = await c.v2.ModelInfer(nameless, metadata=[("mm-model-id", "m1")])
    by_vmodel = await c.v2.ModelInfer(nameless, metadata=[("mm-vmodel-id", "alias")])
    by_bin = await c.v2.ModelInfer(nameless, metadata=[("mm-vmodel-id-bin", b"alias")])
    by_body = await c.v2.ModelInfer(_infer("alias"))
    assert {r.model_name for r in (by_model, by_vmodel, by_bin, by_body)} == {"m1"}
    with pytest.raises(grpc.aio.AioRpcError) as both:
        await c.v2.ModelInfer(nameless, metadata=[("mm-model-id", "m1"), ("mm-vmodel-id", "alias")])
    assert both.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as none:
        await c.v2.ModelInfer(nameless)
    assert none.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mm-model-id" in (none.value.details() or "")


@pytest.mark.parametrize(
    ("metadata", "name"),
    [([("mm-model-id", "nope")], ""), ([("mm-vmodel-id", "nope")], ""), ([], "nope")],
)
async def test_unknown_model_or_vmodel_is_not_found(
    start: StartMesh, clients, metadata, name
) -> None:
    c = clients(await start())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.v2.ModelInfer(_infer(name), metadata=metadata)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "nope" in (err.value.details() or "")


async def test_conflicting_reregister_is_already_exists(start: StartMesh, clients) -> None:
    c = clients(await start())
    await _register(c, "m")
    again = await _register(c, "m")  # same info: a no-op
    assert again.status == Status.NOT_LOADED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _register(c, "m", path="elsewhere")
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await c.mesh.registerModel(pb.RegisterModelRequest(modelId="t", modelInfo=pb.ModelInfo()))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_corrupt_model_fails_then_fixed_file_loads(
    start: StartMesh, clients, mesh_models: Path
) -> None:
    c = clients(await start())
    broken = mesh_models / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"this is not a joblib file")
    status = await _register(c, "broken", path="broken", loadNow=True, sync=True)
    assert status.status == Status.LOADING_FAILED
    assert any("model.joblib" in e for e in status.errors), status.errors
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.v2.ModelInfer(_infer("broken"))
    assert "model.joblib" in (err.value.details() or "")
    # the registration stays; fix the file and ask again
    write_sklearn(broken)
    fixed = await c.mesh.ensureLoaded(pb.EnsureLoadedRequest(modelId="broken", sync=True))
    assert fixed.status == Status.LOADED
    assert (await c.v2.ModelInfer(_infer("broken"))).model_name == "broken"


async def test_oversized_message_is_resource_exhausted(start: StartMesh, clients) -> None:
    c = clients(await start(MM_SVC_GRPC_MAX_MSG_SIZE="4096"))
    await _register(c, "m")
    big = build_infer_request("m", {"x": np.zeros((64, 64), np.float32)})
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.v2.ModelInfer(big)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_streaming_and_unknown_methods_are_unimplemented(start: StartMesh, clients) -> None:
    c = clients(await start())
    await _register(c, "m")
    stream = c.channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")
    call = stream(iter([_infer("m").SerializeToString()]), metadata=[("mm-model-id", "m")])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in call:
            pass
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "unary" in (err.value.details() or "")


async def test_garbage_bytes_get_invalid_argument_and_the_mesh_lives(
    start: StartMesh, clients
) -> None:
    c = clients(await start())
    await _register(c, "m")
    raw = c.channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await raw(b"\x0a\xff\xff\xff")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as bad_tensor:
        await raw(b"\x0a\x01m\x2a\x00", metadata=[("mm-model-id", "m")])
    assert bad_tensor.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,)
    assert (await c.v2.ModelInfer(_infer("m"))).model_name == "m"


async def test_server_level_v2_calls_answered_by_the_mesh(start: StartMesh, clients) -> None:
    c = clients(await start())
    assert (await c.v2.ServerLive(v2.ServerLiveRequest())).live
    assert (await c.v2.ServerReady(v2.ServerReadyRequest())).ready
    assert (await c.v2.ServerMetadata(v2.ServerMetadataRequest())).name == "modelmesh"


async def test_fifty_concurrent_first_requests_cause_one_load(start: StartMesh, clients) -> None:
    app = await start()
    c = clients(app)
    await _register(c, "cold")
    loads: list[str] = []
    real_load = app.runtime.load

    async def counting_load(*args: str):  # the real runtime, counted
        loads.append(args[0])
        return await real_load(*args)

    app.runtime.load = counting_load  # type: ignore[method-assign]
    replies = await asyncio.gather(*(c.v2.ModelInfer(_infer("cold")) for _ in range(50)))
    assert len(replies) == 50 and {r.model_name for r in replies} == {"cold"}
    assert loads == ["cold"]


async def test_lru_evicts_least_recently_used_and_reloads_on_demand(
    start: StartMesh, clients, tmp_path: Path
) -> None:
    probe = await start(MM_DATA_DIR=str(tmp_path / "probe"))
    pc = clients(probe)
    await _register(pc, "probe", loadNow=True, sync=True)
    size = probe.loader.cache.get("probe").size  # type: ignore[union-attr]
    await probe.stop(0)

    n = 3
    app = await start(CONTAINER_MEM_REQ_BYTES=str(int(size * (n + 0.5))))
    c = clients(app)
    ids = [f"m{i}" for i in range(n + 1)]
    for model_id in ids:
        await _register(c, model_id)
    for model_id in ids[:n]:
        await c.v2.ModelInfer(_infer(model_id))
    await c.v2.ModelInfer(_infer("m0"))  # m1 is now the least recently used
    await c.v2.ModelInfer(_infer(ids[n]))
    await asyncio.sleep(0.2)  # the unload runs in the background
    loaded = {
        m
        for m in ids
        if (await c.mesh.getModelStatus(pb.GetStatusRequest(modelId=m))).status == Status.LOADED
    }
    assert loaded == {"m0", "m2", "m3"}
    assert app.loader.cache.used <= app.loader.cache.capacity
    assert (await c.v2.ModelInfer(_infer("m1"))).model_name == "m1"  # reloads on demand
    status = await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="m1"))
    assert status.status == Status.LOADED


async def test_unregister_unloads_and_forgets(start: StartMesh, clients) -> None:
    app = await start()
    c = clients(app)
    await _register(c, "m", loadNow=True, sync=True)
    await c.mesh.unregisterModel(pb.UnregisterModelRequest(modelId="m"))
    status = await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="m"))
    assert status.status == Status.NOT_FOUND
    assert "m" not in app.loader.cache
    await c.mesh.unregisterModel(pb.UnregisterModelRequest(modelId="m"))  # no-op when absent


async def test_model_type_the_runtime_does_not_serve_is_refused(start: StartMesh, clients) -> None:
    c = clients(await start())
    request = pb.RegisterModelRequest(
        modelId="tf-model", modelInfo=pb.ModelInfo(type="tensorflow", path="x"), loadNow=True
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.mesh.registerModel(request)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "label requirements" in (err.value.details() or "")
    # the registration itself stands; requests get the same clear error
    status = await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="tf-model"))
    assert status.status == Status.NOT_LOADED
    with pytest.raises(grpc.aio.AioRpcError) as infer:
        await c.v2.ModelInfer(_infer("tf-model"))
    assert infer.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_load_now_without_sync_reports_loading_at_once(start: StartMesh, clients) -> None:
    c = clients(await start())
    status = await _register(c, "m", loadNow=True)
    assert status.status == Status.LOADING
