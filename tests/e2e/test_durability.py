"""Registrations survive a `modelmesh serve` killed with SIGKILL in the middle of a burst of
concurrent registerModel calls: every call that was answered OK is there after a restart,
and every record in the store (answered or not) is whole, with exactly what was sent. Once
on the embedded store (SQLite in MM_DATA_DIR), once on a real etcd. Real processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest

from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.kv.keys import KeyLayout
from modelmesh.mesh.records import ModelRecord
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from tests.e2e.processes import FAST_RECONNECT, MeshCluster, MeshProcess
from tests.support.etcd import EtcdCluster

pytestmark = pytest.mark.slow

WORKERS = 16
# the kill comes once this many calls were answered; the others are still in flight
KILL_AFTER = 120


def expected_info(model_id: str) -> tuple[str, str, str]:
    """What the registration of ``model_id`` sends: type, path and a key of some size."""
    return "sklearn", f"models/{model_id}", json.dumps({"id": model_id, "pad": "x" * 400})


async def burst_then_kill(process: MeshProcess) -> set[str]:
    """Registers models from WORKERS concurrent callers until the process is killed; the
    ids whose registration was answered OK."""
    acknowledged: set[str] = set()
    killed = asyncio.Event()
    interrupted = 0  # calls the kill cut short

    async def worker(index: int, stub: mm_grpc.ModelMeshStub) -> None:
        nonlocal interrupted
        for n in range(10_000):
            if killed.is_set():
                return
            model_id = f"dur-{index}-{n}"
            kind, path, key = expected_info(model_id)
            try:
                await stub.registerModel(
                    pb.RegisterModelRequest(
                        modelId=model_id, modelInfo=pb.ModelInfo(type=kind, path=path, key=key)
                    ),
                    timeout=10,
                )
            except grpc.aio.AioRpcError:
                if killed.is_set():
                    interrupted += 1
                    return
                raise
            acknowledged.add(model_id)
            if len(acknowledged) >= KILL_AFTER and not killed.is_set():
                killed.set()
                process.kill()  # SIGKILL, with the other workers' calls in flight

    async with grpc.aio.insecure_channel(process.address) as channel:
        stub = mm_grpc.ModelMeshStub(channel)
        await asyncio.gather(*(worker(i, stub) for i in range(WORKERS)))
    assert not process.running
    assert interrupted > 0, "the kill came when no registration was in flight"
    return acknowledged


async def check_after_restart(process: MeshProcess, acknowledged: set[str]) -> None:
    process.start()
    await process.wait_serving()
    async with grpc.aio.insecure_channel(process.address, options=FAST_RECONNECT) as channel:
        stub = mm_grpc.ModelMeshStub(channel)
        for model_id in sorted(acknowledged):
            status = await stub.getModelStatus(pb.GetStatusRequest(modelId=model_id), timeout=10)
            assert status.status != pb.ModelStatusInfo.NOT_FOUND, model_id


def check_records(records: dict[str, ModelRecord], acknowledged: set[str]) -> None:
    missing = acknowledged - set(records)
    assert not missing, f"{len(missing)} acknowledged registrations lost: {sorted(missing)[:5]}"
    for model_id, record in records.items():
        assert (record.type, record.path, record.key) == expected_info(model_id), model_id


async def test_embedded_store_keeps_every_acknowledged_registration(
    tmp_path: Path, e2e_models: Path
) -> None:
    cluster = MeshCluster(tmp_path / "mesh", "", e2e_models, {"KV_STORE": "embedded"})
    try:
        (process,) = await cluster.start(1)
        acknowledged = await burst_then_kill(process)
        await check_after_restart(process, acknowledged)
        process.kill()
    finally:
        cluster.close()
    store = await EmbeddedStore.open(Path(process.env["MM_DATA_DIR"]) / "kv.sqlite3")
    try:
        layout = KeyLayout.for_service()
        items, _ = await store.range(layout.registry_prefix)
    finally:
        await store.close()
    records = {
        item.key[len(layout.registry_prefix) :]: ModelRecord.from_json(item.value) for item in items
    }
    check_records(records, acknowledged)


async def test_etcd_keeps_every_acknowledged_registration(
    mesh: MeshCluster, etcd: EtcdCluster
) -> None:
    (process,) = await mesh.start(1)
    acknowledged = await burst_then_kill(process)
    await check_after_restart(process, acknowledged)
    check_records(await mesh.registry(), acknowledged)
