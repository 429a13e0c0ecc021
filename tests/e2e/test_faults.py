"""Fault tests of issue 3: `modelmesh serve` processes on a real etcd, 200 models, steady
traffic from a client that retries UNAVAILABLE on the next instance (as a Service and a
retrying client would), while an instance dies, etcd restarts, every instance is replaced
in a rolling update, or a model's file is corrupt."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable

import grpc
import pytest

from modelmesh.mesh.records import ModelRecord
from modelmesh.protos import model_mesh_pb2 as pb
from tests.e2e.client import CallError, MeshClient, Traffic, summarize
from tests.e2e.processes import MeshCluster
from tests.support.etcd import EtcdCluster

pytestmark = pytest.mark.slow

Status = pb.ModelStatusInfo.ModelStatus
Registry = dict[str, ModelRecord]
MODELS = 200


async def populate(
    mesh: MeshCluster, client: MeshClient, count: int = MODELS, prefix: str = "m"
) -> list[str]:
    """Register ``count`` models (one file backs them all) and send each one request."""
    ids = [f"{prefix}{i:03d}" for i in range(count)]
    slots = asyncio.Semaphore(16)

    async def limited(call: Awaitable[object]) -> None:
        async with slots:
            await call

    await asyncio.gather(*(limited(client.register(m, "sklearn")) for m in ids))
    await known_everywhere(mesh, client, ids)
    await asyncio.gather(*(limited(client.infer(m)) for m in ids))
    return ids


async def known_everywhere(
    mesh: MeshCluster, client: MeshClient, ids: list[str], timeout_s: float = 10.0
) -> None:
    """Until every instance's view of the registry holds the models: an instance knows of
    a registration made through another one only when etcd's watch delivers it."""
    deadline = time.monotonic() + timeout_s
    for address in mesh.endpoints():
        unknown = list(ids)
        while unknown:
            statuses = await asyncio.gather(*(client.status(m, only=address) for m in unknown))
            unknown = [
                m for m, s in zip(unknown, statuses, strict=True) if s.status == Status.NOT_FOUND
            ]
            if unknown and time.monotonic() > deadline:
                raise AssertionError(f"{address} does not know of {len(unknown)} registrations")
            await asyncio.sleep(0.05 if unknown else 0)


async def registry_until(
    mesh: MeshCluster, check: Callable[[Registry], bool], what: str, timeout_s: float = 30.0
) -> Registry:
    """The registry once ``check`` holds for it; fails saying ``what`` was awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        registry = await mesh.registry()
        if check(registry):
            return registry
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout_s} s, still not true: {what}")
        await asyncio.sleep(0.25)


def copies_on(registry: Registry, instance_id: str) -> set[str]:
    """Models whose record lists a copy (loading or loaded) on the instance."""
    return {
        m
        for m, r in registry.items()
        if instance_id in r.instance_ids or instance_id in r.loaded_in
    }


async def test_kill_9_of_an_instance_fails_no_request_and_loses_no_registration(
    mesh: MeshCluster, client: MeshClient
) -> None:
    instances = await mesh.start(3)
    models = await populate(mesh, client)
    registry = await mesh.registry()
    per_instance = Counter(i for r in registry.values() for i in r.loaded_in)
    victim = max(instances, key=lambda p: per_instance[p.instance_id])
    held = copies_on(registry, victim.instance_id)
    assert held, f"the 200 models were not spread: {per_instance}"
    traffic = Traffic(client, models).start()
    await asyncio.sleep(1.0)

    killed_at = time.monotonic()
    victim.kill()
    await asyncio.sleep(2.0)  # the Service routes to it until it notices; clients retry
    victim.in_service = False
    registry = await registry_until(
        mesh,
        lambda r: not copies_on(r, victim.instance_id),
        f"no copy on {victim.instance_id} in the registry (lease expiry, then the reaper)",
    )
    await asyncio.sleep(2.5)  # every model is asked for at least once more
    outcomes = await traffic.stop()

    assert not traffic.failures(), summarize(outcomes)
    assert held <= traffic.served_after(killed_at), "models of the dead instance went unserved"
    assert sorted(registry) == models, "a registration was lost"
    assert not copies_on(await mesh.registry(), victim.instance_id)


async def test_etcd_restart_keeps_loaded_models_answering_and_loses_no_registration(
    mesh: MeshCluster, client: MeshClient, etcd: EtcdCluster
) -> None:
    await mesh.start(3)
    models = await populate(mesh, client)
    traffic = Traffic(client, models).start()
    await asyncio.sleep(1.0)

    (member,) = etcd.members
    await asyncio.to_thread(member.stop)
    down_at = time.monotonic()
    await asyncio.sleep(4.0)  # longer than the instances' lease TTL
    up_at = time.monotonic()
    await asyncio.to_thread(member.start)
    await asyncio.to_thread(member.wait_healthy)
    during = [o for o in traffic.outcomes if down_at <= o.started < up_at]
    assert len(during) > 100, f"too little traffic while etcd was down: {len(during)}"
    assert all(o.ok for o in during), summarize(during)

    # registration and placement work again: new models register, load and spread
    new = await populate(mesh, client, 30, prefix="n")
    traffic.models.extend(new)
    await asyncio.sleep(2.0)
    outcomes = await traffic.stop()
    assert not traffic.failures(), summarize(outcomes)

    registry = await mesh.registry()
    assert sorted(registry) == sorted(models + new), "a registration was lost"
    alive = {p.instance_id for p in mesh.running()}
    placed_on = Counter(i for m in new for i in registry[m].loaded_in)
    assert set(placed_on) <= alive and sum(placed_on.values()) >= len(new), placed_on
    assert len(placed_on) > 1, f"all new models went to one instance: {placed_on}"


async def test_rolling_restart_with_sigterm_fails_no_request(
    mesh: MeshCluster, client: MeshClient
) -> None:
    originals = await mesh.start(3)
    models = await populate(mesh, client)
    traffic = Traffic(client, models).start()
    await asyncio.sleep(1.0)

    for old in originals:
        await mesh.replace(old, exit_timeout_s=30.0)
        await asyncio.sleep(1.0)
    gone = {old.instance_id for old in originals}
    registry = await registry_until(
        mesh,
        lambda r: all(r[m].loaded_in and not gone & set(r[m].instance_ids) for m in models),
        "every model loaded on the new instances, none listed on the old ones",
        timeout_s=15.0,
    )
    outcomes = await traffic.stop()

    assert not traffic.failures(), summarize(outcomes)
    assert sorted(registry) == models, "a registration was lost"


@pytest.mark.parametrize(
    "instances",
    [3, 4],  # 4: one more than the bound, so that the bound shows
)
async def test_a_corrupt_model_fails_on_at_most_3_instances_with_its_message(
    mesh: MeshCluster, client: MeshClient, instances: int
) -> None:
    await mesh.start(instances)
    models = await populate(mesh, client)
    traffic = Traffic(client, models).start()
    await client.register("corrupt", "corrupt")

    errors: list[CallError] = []
    for _ in range(3 * instances):  # round robin: every instance is asked three times
        with pytest.raises(CallError) as failed:
            await client.infer("corrupt")
        errors.append(failed.value)
    outcomes = await traffic.stop()

    assert all(e.code != grpc.StatusCode.UNAVAILABLE for e in errors), errors
    assert all("model.joblib" in e.details for e in errors), [e.details for e in errors]
    status = await client.status("corrupt")
    assert status.status == Status.LOADING_FAILED
    assert 1 <= len(status.errors) <= 3, status.errors
    assert all("model.joblib" in e for e in status.errors), status.errors
    # each load attempt leaves one line in the runtime's log of the instance that tried
    attempts = mesh.count_in_logs(r"loading model corrupt failed")
    assert 1 <= attempts <= 3, f"{attempts} load attempts of the corrupt model"
    registry = await mesh.registry()
    assert 1 <= len(registry["corrupt"].failed_in) <= 3
    assert sorted(m for m in registry if m != "corrupt") == models
    assert not traffic.failures(), summarize(outcomes)
