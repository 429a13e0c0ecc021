"""Warm overhead side by side: one small digits model resident, 1 and 64 requests in flight,
req/s and p50/p99, on each system's own path, in one run on this machine.

- our mesh (``modelmesh serve``, built-in runtime in-process) over gRPC and over REST;
- MLServer 1.7.1 (in-process inference) over V2 gRPC and V2 REST;
- Ray Serve 2.60.0 with ``serve.multiplexed`` over HTTP (its native path).

The systems are started one at a time (each start timed alone), peers in their own venvs
(bench/peers/venvs.py), then measured in interleaved rounds while all are up, so other work
on a shared machine weighs on each alike. The load generator is this process, the same for
all. Ratios: the mesh's gRPC row against MLServer gRPC and Ray HTTP (the issue's targets:
>= 1.5x MLServer, >= 3x Ray, lower p50 than both), and like for like over HTTP (mesh REST
against both). A missed target gets a py-spy profile of the mesh on that path (gRPC, REST)
under the most requests in flight. Writes bench/results/warm.json.

    python bench/warm.py [--seconds 6] [--rounds 3] [--concurrency 1 64] [--ray-replicas 1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root

from bench.peers.clients import (
    GrpcInfer,
    grpc_request,
    http_session,
    json_body,
    model_path,
    post_json,
    write_models,
)
from bench.peers.mesh import Mesh
from bench.peers.mlserver import MLServer
from bench.peers.profiling import profile
from bench.peers.ray_serve import RayServe
from bench.peers.results import target, write
from bench.peers.workload import Run, closed_loop

MODEL = "digits"
Rows = dict[str, dict[str, dict]]
Send = Callable[[int], Awaitable[object]]


async def measure(senders: dict[str, Send], args: argparse.Namespace) -> Rows:
    """Every system at every concurrency, in ``rounds`` interleaved windows (so a burst of
    other work on the machine falls on all of them alike), merged per system."""
    window = args.seconds / args.rounds
    runs: dict[tuple[str, int], list[Run]] = {}
    for _ in range(args.rounds):
        for system, send in senders.items():
            for concurrency in args.concurrency:
                run = await closed_loop(send, concurrency, window, args.warmup)
                runs.setdefault((system, concurrency), []).append(run)
    rows: Rows = {}
    for (system, concurrency), parts in runs.items():
        rows.setdefault(system, {})[str(concurrency)] = row = Run.merge(parts).row()
        print(f"{system} x{concurrency}: {row}", file=sys.stderr)
    return rows


def ratios(rows: Rows, concurrency: str) -> dict[str, float]:
    def rps(system: str) -> float:
        return rows[system][concurrency]["rps"]

    return {
        "mesh_grpc_vs_mlserver_grpc_rps": round(rps("mesh-grpc") / rps("mlserver-grpc"), 2),
        "mesh_grpc_vs_ray_http_rps": round(rps("mesh-grpc") / rps("ray-http"), 2),
        "mesh_rest_vs_mlserver_rest_rps": round(rps("mesh-rest") / rps("mlserver-rest"), 2),
        "mesh_rest_vs_ray_http_rps": round(rps("mesh-rest") / rps("ray-http"), 2),
    }


def targets(rows: Rows, concurrency: str) -> list[dict]:
    at = {system: by[concurrency] for system, by in rows.items()}
    mesh, ml, ray_ = at["mesh-grpc"], at["mlserver-grpc"], at["ray-http"]
    rest = at["mesh-rest"]
    return [
        target(
            f"@{concurrency}: mesh gRPC >= 3x Ray HTTP req/s",
            mesh["rps"] >= 3 * ray_["rps"],
            round(mesh["rps"] / ray_["rps"], 2),
            ">= 3",
        ),
        target(
            f"@{concurrency}: mesh gRPC >= 1.5x MLServer gRPC req/s",
            mesh["rps"] >= 1.5 * ml["rps"],
            round(mesh["rps"] / ml["rps"], 2),
            ">= 1.5",
        ),
        target(
            f"@{concurrency}: mesh gRPC p50 below MLServer gRPC and Ray HTTP",
            mesh["p50_ms"] < min(ml["p50_ms"], ray_["p50_ms"]),
            [mesh["p50_ms"], ml["p50_ms"], ray_["p50_ms"]],
            "first < the other two (ms)",
        ),
        target(
            f"@{concurrency}: mesh REST >= 3x Ray HTTP req/s (like for like)",
            rest["rps"] >= 3 * ray_["rps"],
            round(rest["rps"] / ray_["rps"], 2),
            ">= 3",
        ),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="measured, per system and level")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved windows per level")
    parser.add_argument("--warmup", type=float, default=0.5, help="unmeasured, per window")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--ray-replicas", type=int, default=1)
    parser.add_argument("--profile-seconds", type=float, default=8.0)
    args = parser.parse_args()
    levels = [str(c) for c in args.concurrency]
    with tempfile.TemporaryDirectory(prefix="mm-bench-warm-") as tmp:
        root = Path(tmp)
        write_models(root / "models", [MODEL])
        ray = RayServe(root, root / "models", replicas=args.ray_replicas, max_models=3)
        mlserver = MLServer(root)
        mlserver.add_model(MODEL, root / "models" / model_path(MODEL))
        mesh = Mesh(root, root / "models")
        session = http_session(max(args.concurrency))
        try:
            # one at a time, so each start is timed alone; all stay up for the rounds
            config = {
                "ray": {**ray.config(), "start_s": round(await ray.start(), 2)},
                "mlserver": {"parallel_workers": 0, "start_s": round(await mlserver.start(), 2)},
                "mesh": {"start_s": round(await mesh.start(), 2)},
            }
            await ray.infer(session, MODEL, json_body())  # its first request loads the model
            await mlserver.load(session, MODEL)
            await mesh.register(MODEL, model_path(MODEL), load=True, sync=True)
            grpc_mesh, grpc_ml = GrpcInfer(mesh.channel), GrpcInfer(mlserver.channel)
            request, body = grpc_request(MODEL), json_body()
            mesh_url = f"{mesh.rest_url}/v2/models/{MODEL}/infer"
            ml_url = f"{mlserver.rest_url}/v2/models/{MODEL}/infer"
            senders: dict[str, Send] = {
                "mesh-grpc": lambda _: grpc_mesh(request),
                "mesh-rest": lambda _: post_json(session, mesh_url, body),
                "mlserver-grpc": lambda _: grpc_ml(request),
                "mlserver-rest": lambda _: post_json(session, ml_url, body),
                "ray-http": lambda _: ray.infer(session, MODEL, body),
            }
            rows = await measure(senders, args)
            checked = [t for c in levels for t in targets(rows, c)]
            profiled: dict[str, dict] = {}
            most = max(args.concurrency)
            for path in ("gRPC", "REST"):
                if all(t["met"] for t in checked if f"mesh {path}" in t["target"]):
                    continue
                # where the mesh's time goes on that path under the heaviest load
                summary, _ = await asyncio.gather(
                    profile(mesh.process.pid, args.profile_seconds, root / f"{path}.pyspy"),
                    closed_loop(senders[f"mesh-{path.lower()}"], most, args.profile_seconds, 0),
                )
                profiled[f"mesh {path} @{most}"] = summary
        finally:
            await session.close()
            for server in (mesh, mlserver, ray):
                server.stop()
    write(
        "warm",
        {
            "model": "sklearn LogisticRegression on digits, 1 row of 64 float32",
            "seconds": args.seconds,
            "rounds": args.rounds,
            "systems": rows,
            "config": config,
            "ratios": {c: ratios(rows, c) for c in levels},
            "targets": checked,
            **({"profiles": profiled} if profiled else {}),
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
