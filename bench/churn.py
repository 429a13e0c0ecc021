"""Churn side by side: many models, room for a fraction of them, a Zipf trace.

1,000 model ids (one small digits model file each), room for 100 loaded at once, a Zipf
(alpha 1.0, fixed seed) trace replayed in order (``--concurrency`` at a time, 1 by default),
against each system alone:

- our mesh: all ids registered (not loaded); capacity = room x the size the built-in runtime
  measures for the file, so its byte-weighted LRU holds ``room`` models; requests over gRPC.
  Loads and misses from its ``/metrics``.
- Ray Serve multiplexing: one replica with ``max_num_models_per_replica = room``: its own LRU.
  Loads from the loader's log. Requests over HTTP.
- MLServer: it never evicts, so the harness keeps an LRU of ``room`` models and drives its
  load/unload API ("client-driven"). Requests over gRPC. Each of its loads reads and parses
  every ``model-settings.json`` in its repository (``SchemalessModelRepository.find`` lists
  them all), seconds per load with 1,000 models, so it gets its own, shorter time limit.

Per system: hit ratio = 1 - loads / requests (with 1 in flight every miss is one load), next
to an exact LRU of the same room on the same trace (the ideal); p50/p99 of all requests;
loads/s; failed requests. Targets (issue 8): the mesh's hit ratio at least Ray's, and no
failed request. Writes bench/results/churn.json.

    python bench/churn.py [--requests 3000] [--limit 60] [--models 1000] [--room 100] [--alpha 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root

from bench.peers.clients import (
    GrpcInfer,
    grpc_request,
    http_session,
    json_body,
    model_path,
    write_models,
)
from bench.peers.mesh import Mesh, model_size
from bench.peers.mlserver import MLServer
from bench.peers.profiling import profile
from bench.peers.ray_serve import RayServe
from bench.peers.results import target, write
from bench.peers.workload import Replay, lru_hit_ratio, replay, summary, zipf_trace

MIB = 1024 * 1024
MESH_BUFFER = 64 * MIB


def outcome(name: str, done: Replay, loads: int, trace: list[str], room: int) -> dict:
    print(
        f"{name}: {done.sent} requests in {done.seconds:.1f} s, {loads} loads, "
        f"{done.failed} failed",
        file=sys.stderr,
    )
    row = {
        "requests": done.sent,
        "failed": done.failed,
        "loads": loads,
        "hit_ratio": round(1 - loads / done.sent, 4),
        # an exact LRU of the same room on the requests this system was sent
        "ideal_lru_hit_ratio": round(lru_hit_ratio(trace[: done.sent], room), 4),
        "loads_per_s": round(loads / done.seconds, 1),
        "seconds": round(done.seconds, 1),
        **{k: v for k, v in summary(done.latencies).items() if k != "count"},
    }
    if done.sent < len(trace):
        row["cut_at_time_limit"] = True
    if done.first_error:
        row["first_error"] = done.first_error
    return row


async def mesh(root: Path, ids: list[str], trace: list[str], args: argparse.Namespace) -> dict:
    size = await model_size(root / "models", model_path(ids[0]))
    # room for `room` models, and less than one more
    capacity = args.room * size + size // 2
    env = {
        "CONTAINER_MEM_REQ_BYTES": str(capacity + MESH_BUFFER),
        "MEM_BUFFER_BYTES": str(MESH_BUFFER),
    }
    server = Mesh(root, root / "models", env)
    try:
        await server.start()
        began = time.perf_counter()
        slots = asyncio.Semaphore(32)

        async def register(model_id: str) -> None:
            async with slots:
                await server.register(model_id, model_path(model_id), load=False, sync=False)

        await asyncio.gather(*(register(m) for m in ids))
        registered_s = time.perf_counter() - began
        infer = GrpcInfer(server.channel)
        requests = {m: grpc_request(m) for m in set(trace)}
        async with http_session(1) as session:
            before = await server.metrics(session)
            replaying = asyncio.create_task(
                replay(
                    lambda i: infer(requests[trace[i]]), len(trace), args.concurrency, args.limit
                )
            )
            profiled = {}
            if args.profile:
                profiled = await profile(server.process.pid, args.profile, root / "churn.pyspy")
            done = await replaying
            after = await server.metrics(session)

        def grew(name: str) -> int:
            return int(after.get(name, 0) - before.get(name, 0))

        loads = grew("modelmesh_loadmodel_milliseconds_count")
        row = outcome("mesh", done, loads, trace, args.room)
        return {
            **row,
            "misses": grew("modelmesh_cache_miss_milliseconds_count"),
            "evictions": grew("modelmesh_model_evicted_total"),
            "model_size_bytes": size,
            "capacity_bytes": capacity,
            "registrations_per_s": round(len(ids) / registered_s, 1),
            **({"profiles": {"mesh gRPC, during the replay": profiled}} if profiled else {}),
        }
    finally:
        server.stop()


async def ray(root: Path, trace: list[str], args: argparse.Namespace) -> dict:
    server = RayServe(root, root / "models", replicas=1, max_models=args.room)
    try:
        await server.start()
        body = json_body()
        async with http_session(args.concurrency) as session:
            done = await replay(
                lambda i: server.infer(session, trace[i], body),
                len(trace),
                args.concurrency,
                args.limit,
            )
        return {**outcome("ray", done, len(server.loads()), trace, args.room), **server.config()}
    finally:
        server.stop()


async def mlserver(root: Path, ids: list[str], trace: list[str], args: argparse.Namespace) -> dict:
    server = MLServer(root)
    for model_id in ids:
        server.add_model(model_id, root / "models" / model_path(model_id))
    loaded: OrderedDict[str, None] = OrderedDict()
    guard = asyncio.Lock()
    loads = 0
    try:
        await server.start()
        infer = GrpcInfer(server.channel)
        requests = {m: grpc_request(m) for m in set(trace)}
        async with http_session(args.concurrency) as session:

            async def send(index: int) -> None:
                # the harness's LRU: load on a miss, unload the least recently used past room
                nonlocal loads
                model_id = trace[index]
                async with guard:
                    if model_id in loaded:
                        loaded.move_to_end(model_id)
                    else:
                        await server.load(session, model_id)
                        loads += 1
                        loaded[model_id] = None
                        if len(loaded) > args.room:
                            await server.unload(session, loaded.popitem(last=False)[0])
                await infer(requests[model_id])

            limit = min(args.limit, args.limit_mlserver)
            done = await replay(send, len(trace), args.concurrency, limit)
        return outcome("mlserver", done, loads, trace, args.room)
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--room", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--limit",
        type=float,
        default=60.0,
        help="seconds per system; a slower one replays a prefix of the trace",
    )
    parser.add_argument(
        "--limit-mlserver",
        type=float,
        default=30.0,
        help="MLServer's own limit: each of its loads reads every model-settings.json",
    )
    parser.add_argument("--systems", nargs="+", default=["mesh", "ray", "mlserver"])
    parser.add_argument(
        "--profile",
        type=float,
        default=0.0,
        help="seconds of py-spy on the mesh during its replay (0: none)",
    )
    args = parser.parse_args()
    ids = [f"c{i:05d}" for i in range(args.models)]
    trace = zipf_trace(ids, args.alpha, args.requests, args.seed)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mm-bench-churn-") as tmp:
        root = Path(tmp)
        write_models(root / "models", ids)
        if "mesh" in args.systems:
            results["mesh"] = await mesh(root, ids, trace, args)
        if "ray" in args.systems:
            results["ray"] = await ray(root, trace, args)
        if "mlserver" in args.systems:
            results["mlserver (client-driven)"] = await mlserver(root, ids, trace, args)
    checked = []
    if "mesh" in results and "ray" in results:
        mine, theirs = results["mesh"], results["ray"]
        if "cut_at_time_limit" in theirs:
            # Ray served a prefix only: compare each with an exact LRU on what it served
            checked.append(
                target(
                    "mesh hit ratio >= Ray Serve's (each minus an exact LRU on its requests)",
                    mine["hit_ratio"] - mine["ideal_lru_hit_ratio"]
                    >= theirs["hit_ratio"] - theirs["ideal_lru_hit_ratio"],
                    {s: [r["hit_ratio"], r["ideal_lru_hit_ratio"]] for s, r in results.items()},
                    "mesh's gap to its ideal <= Ray's",
                )
            )
        else:
            checked.append(
                target(
                    "mesh hit ratio >= Ray Serve's",
                    mine["hit_ratio"] >= theirs["hit_ratio"],
                    [mine["hit_ratio"], theirs["hit_ratio"]],
                    "first >= second",
                )
            )
    if "mesh" in results:
        failed = results["mesh"]["failed"]
        checked.append(target("no failed request (mesh)", failed == 0, failed, "0"))
    write(
        "churn",
        {
            "models": args.models,
            "room": args.room,
            "requests": args.requests,
            "alpha": args.alpha,
            "seed": args.seed,
            "concurrency": args.concurrency,
            "ideal_lru_hit_ratio": round(lru_hit_ratio(trace, args.room), 4),
            "distinct_models_in_trace": len(set(trace)),
            "systems": results,
            "targets": checked,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
