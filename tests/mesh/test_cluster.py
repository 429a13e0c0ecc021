"""Several mesh instances sharing one store, over real gRPC on loopback: placement,
forwarding, failover. (One process, separate runtimes and servers; the fault tests in
tests/e2e run separate processes on a real etcd.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.mesh.app import MeshApp, start_mesh
from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.settings import Settings
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import Clients
from tests.support.models import digits

Status = pb.ModelStatusInfo.ModelStatus
StartCluster = Callable[..., Awaitable[list[MeshApp]]]


@pytest.fixture
async def cluster(tmp_path: Path, mesh_models: Path) -> AsyncIterator[StartCluster]:
    store = await EmbeddedStore.open(None)
    apps: list[MeshApp] = []

    async def _start(n: int, **env: str) -> list[MeshApp]:
        for _ in range(n):
            settings = Settings.from_env(
                {
                    "WKUBE_POD_NAME": f"mesh-{len(apps)}",
                    "MM_SVC_GRPC_PORT": "0",
                    "ROOT_MODEL_DIR": str(mesh_models),
                    "CONTAINER_MEM_REQ_BYTES": str(256 * 1024 * 1024),
                    "MEM_BUFFER_BYTES": "0",
                    "MM_INSTANCE_LEASE_TTL_MS": "2000",
                    **env,
                }
            )
            apps.append(await start_mesh(settings, store=store))
        await asyncio.sleep(0.05)  # instance records reach every view
        return apps[-n:]

    yield _start
    for app in apps:
        await app.stop(0)
    await store.close()


def _infer(name: str) -> bytes:
    return build_infer_request(name, {"x": np.asarray(digits()[0][:2])})


async def _register(c: Clients, model_id: str, path: str = "sklearn") -> None:
    await c.mesh.registerModel(
        pb.RegisterModelRequest(modelId=model_id, modelInfo=pb.ModelInfo(type="sklearn", path=path))
    )


def _holders(app: MeshApp, model_id: str) -> set[str]:
    record = app.registry.models.get(model_id)
    return set(record.loaded_in) if record else set()


async def test_any_instance_serves_any_model_with_one_copy(cluster: StartCluster, clients) -> None:
    apps = await cluster(3)
    cs = [clients(app) for app in apps]
    await _register(cs[0], "m")
    first = await cs[1].v2.ModelInfer(_infer("m"))
    assert first.model_name == "m"
    holders = _holders(apps[0], "m")
    assert len(holders) == 1
    for c in cs:  # every instance answers, and no further copy appears
        assert (await c.v2.ModelInfer(_infer("m"))).model_name == "m"
    await asyncio.sleep(0.05)
    assert _holders(apps[2], "m") == holders
    status = await cs[2].mesh.getModelStatus(pb.GetStatusRequest(modelId="m"))
    assert status.status == Status.LOADED
    assert [c.location for c in status.modelCopyInfos] == sorted(holders)


async def test_new_models_spread_over_instances(cluster: StartCluster, clients) -> None:
    apps = await cluster(3)
    c = clients(apps[0])
    for i in range(6):
        await _register(c, f"m{i}")
        await c.v2.ModelInfer(_infer(f"m{i}"))
        await asyncio.sleep(0.4)  # instance records are republished at most every 1/6 TTL
    counts = [len(app.loader.cache) for app in apps]
    assert sorted(counts) == [2, 2, 2], counts
    record = apps[0].registry.models.get("m5")
    assert record is not None and all("chosen" in why for why in record.placed.values())


async def test_requests_survive_the_loss_of_the_instance_holding_the_model(
    cluster: StartCluster, clients
) -> None:
    apps = await cluster(3)
    cs = {app.settings.instance_id: clients(app) for app in apps}
    first = next(iter(cs.values()))
    await _register(first, "m")
    await first.v2.ModelInfer(_infer("m"))
    (holder,) = _holders(apps[0], "m")
    survivor = next(i for i in cs if i != holder)
    await next(app for app in apps if app.settings.instance_id == holder).stop(0)
    await asyncio.sleep(0.05)
    reply = await cs[survivor].v2.ModelInfer(_infer("m"))
    assert reply.model_name == "m"
    # the dead instance's copy no longer counts (its record is gone with its lease)
    status = await cs[survivor].mesh.getModelStatus(pb.GetStatusRequest(modelId="m"))
    locations = [c.location for c in status.modelCopyInfos]
    assert status.status == Status.LOADED and holder not in locations and len(locations) == 1


async def test_a_corrupt_model_fails_on_a_bounded_number_of_instances(
    cluster: StartCluster, clients, mesh_models: Path
) -> None:
    apps = await cluster(4)
    c = clients(apps[0])
    (mesh_models / "bad").mkdir()
    (mesh_models / "bad" / "model.joblib").write_bytes(b"not a model")
    await _register(c, "bad", path="bad")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.v2.ModelInfer(_infer("bad"))
    assert "model.joblib" in (err.value.details() or "")
    await asyncio.sleep(0.1)
    record = apps[0].registry.models.get("bad")
    assert record is not None and 1 <= len(record.failed_in) <= 3
    status = await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="bad"))
    assert status.status == Status.LOADING_FAILED
    assert all("model.joblib" in e for e in status.errors)
    # later requests fail fast, without new loads anywhere
    with pytest.raises(grpc.aio.AioRpcError):
        await clients(apps[3]).v2.ModelInfer(_infer("bad"))
    assert len(apps[0].registry.models.get("bad").failed_in) <= 3  # type: ignore[union-attr]


async def test_load_now_places_the_model_and_sync_waits(cluster: StartCluster, clients) -> None:
    apps = await cluster(2)
    for app in apps[1:]:  # make the second instance the better choice
        assert len(app.loader.cache) == 0
    c = clients(apps[0])
    await _register(c, "warm")
    await c.v2.ModelInfer(_infer("warm"))  # now apps hold 1 model between them
    status = await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId="n",
            modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"),
            loadNow=True,
            sync=True,
        )
    )
    assert status.status == Status.LOADED
    holders = _holders(apps[0], "n") | _holders(apps[1], "n")
    assert holders and holders != _holders(apps[0], "warm")


async def _eventually(check, timeout_s: float = 5.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def test_reaper_forgets_a_dead_instance_and_reloads_its_models(
    cluster: StartCluster, clients
) -> None:
    apps = await cluster(3, MM_ASSUME_INSTANCE_GONE_AFTER_MS="0", MM_REAPER_INTERVAL_MS="100")
    c = clients(apps[0])
    await _register(c, "m")
    await c.v2.ModelInfer(_infer("m"))
    (holder,) = _holders(apps[0], "m")
    dead = next(a for a in apps if a.settings.instance_id == holder)
    await dead.stop(0)  # no drain: its copies stay in the registry until the reaper
    live = [a for a in apps if a is not dead]
    await _eventually(
        lambda: holder not in _holders(live[0], "m") and len(_holders(live[0], "m")) == 1
    )
    record = live[0].registry.models.get("m")
    assert record is not None and holder not in record.instance_ids
    assert "gone" in next(iter(record.placed.values()))


async def test_minimum_copies_are_kept_loaded(cluster: StartCluster, clients) -> None:
    apps = await cluster(3, MM_REAPER_INTERVAL_MS="100")
    c = clients(apps[0])
    await _register(c, "pinned")
    await apps[0].registry.models.update("pinned", lambda r: replace(r, min_copies=2))
    await _eventually(lambda: len(_holders(apps[0], "pinned")) == 2)


async def test_a_leaving_instance_moves_its_models_first(cluster: StartCluster, clients) -> None:
    apps = await cluster(2)
    c = clients(apps[0])
    await _register(c, "m")
    await c.v2.ModelInfer(_infer("m"))
    (holder,) = _holders(apps[0], "m")
    leaving = next(a for a in apps if a.settings.instance_id == holder)
    staying = next(a for a in apps if a is not leaving)
    await leaving.drain(10)
    await _eventually(lambda: _holders(staying, "m") == {staying.settings.instance_id})
    assert staying.instances.alive()[holder].shutting_down
    # the leaving instance still answers, and no new model goes there
    await _register(c, "n")
    assert (await clients(leaving).v2.ModelInfer(_infer("n"))).model_name == "n"
    assert _holders(staying, "n") == {staying.settings.instance_id}


async def test_janitor_repairs_the_registry(cluster: StartCluster, clients) -> None:
    (app,) = await cluster(1, MM_JANITOR_INTERVAL_MS="100", MM_LOAD_FAILURE_EXPIRY_TIME_MS="200")
    c = clients(app)
    me = app.settings.instance_id
    await _register(c, "ghost")
    await _register(c, "real")
    await c.v2.ModelInfer(_infer("real"))
    # the registry claims a copy that isn't here, misses one that is, and has an old failure
    await app.registry.models.update("ghost", lambda r: r.with_copy_loaded(me, 1))
    await app.registry.models.update(
        "real", lambda r: r.without_copy(me).with_copy_failed("x", 1, "old")
    )
    await _eventually(
        lambda: (
            _holders(app, "ghost") == set()
            and _holders(app, "real") == {me}
            and not app.registry.models.get("real").failed_in
        )  # type: ignore[union-attr]
    )


async def test_hot_models_get_more_copies(cluster: StartCluster, clients) -> None:
    apps = await cluster(3, MM_SCALEUP_RPM_THRESHOLD="1")
    c = clients(apps[0])
    await _register(c, "hot")
    for _ in range(5):
        await c.v2.ModelInfer(_infer("hot"))
    (holder,) = _holders(apps[0], "hot")
    scaler = next(a for a in apps if a.settings.instance_id == holder).scaler
    assert scaler is not None
    scaler.check()
    await _eventually(lambda: len(_holders(apps[0], "hot")) == 2)


async def test_status_explains_instances_copies_and_placement(
    cluster: StartCluster, clients, capsys
) -> None:
    from modelmesh.mesh.cli.main import main

    apps = await cluster(2)
    c = clients(apps[0])
    await _register(c, "m")
    await c.v2.ModelInfer(_infer("m"))
    (holder,) = _holders(apps[0], "m")
    address = ["--address", apps[0].address]
    assert await asyncio.to_thread(main, ["copies", "m", "--min", "2", "--max", "3", *address]) == 0
    assert await asyncio.to_thread(main, ["status", *address]) == 0
    table = capsys.readouterr().out
    assert "INSTANCE" in table and all(a.settings.instance_id in table for a in apps)
    assert "leader" in table
    assert await asyncio.to_thread(main, ["status", "m", *address]) == 0
    explained = capsys.readouterr().out
    assert f"{holder}: chosen:" in explained  # why the copy is where it is
    assert "at least 2, at most 3" in explained
    assert "holds a copy already" in explained and "a new copy would go to:" in explained
    record = apps[0].registry.models.get("m")
    assert record is not None and (record.min_copies, record.max_copies) == (2, 3)
    assert await asyncio.to_thread(main, ["copies", "m", "--min", "3", "--max", "2", *address]) == 1
    assert "INVALID_ARGUMENT" in capsys.readouterr().err


async def test_a_model_registered_elsewhere_is_served_before_the_watch_delivers_it(
    cluster: StartCluster, clients
) -> None:
    apps = await cluster(2)
    # the second instance's view stops following the store (a slow watch)
    await apps[1].registry.models.stop()
    await apps[1].registry.vmodels.stop()
    c0, c1 = clients(apps[0]), clients(apps[1])
    await _register(c0, "fresh")
    await c0.mesh.setVModel(pb.SetVModelRequest(vModelId="alias", targetModelId="fresh"))
    assert apps[1].registry.models.get("fresh") is None
    assert (await c1.v2.ModelInfer(_infer("fresh"))).model_name == "fresh"
    assert (await c1.v2.ModelInfer(_infer("alias"))).model_name == "fresh"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c1.v2.ModelInfer(_infer("never-registered"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_client_cannot_pass_itself_off_as_a_peer(cluster: StartCluster, clients) -> None:
    apps = await cluster(2)
    c = clients(apps[0])
    await _register(c, "m")
    await c.v2.ModelInfer(_infer("m"))
    (holder,) = _holders(apps[0], "m")
    other = next(a for a in apps if a.settings.instance_id != holder)
    spoofed = [("mm-hop", "hit_only"), ("mm-hop-token", "guess")]
    # without the mesh's token the hop header is ignored: routed as any client request
    reply = await clients(other).v2.ModelInfer(_infer("m"), metadata=spoofed)
    assert reply.model_name == "m"
    assert _holders(apps[0], "m") == {holder}  # no forced load where the client landed
    # the mesh's own peers do carry the token, and the instance honours it
    token = other.peers._token  # the test plays a peer
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await clients(other).v2.ModelInfer(
            _infer("m"), metadata=[("mm-hop", "hit_only"), ("mm-hop-token", token)]
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # "not loaded here", as a peer hears
