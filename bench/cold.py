"""Cold start side by side: from registering (or deploying) a model that is not loaded to its
first successful prediction, per system, and how much of it is the system's own model load.

- our mesh: ``registerModel`` (no ``loadNow``), then ModelInfer over gRPC: the request loads
  it. Own load time: the growth of ``modelmesh_loadmodel_milliseconds_sum`` over the request.
- MLServer: write its ``model-settings.json``, ``POST /v2/repository/models/{m}/load``, then
  ModelInfer over gRPC. Own load time: the load call (MLServer reports nothing finer).
- Ray Serve: nothing to register; the first HTTP request with the model's id loads it
  through ``serve.multiplexed``. Own load time: the loader's own timing (``ray_app.py``).

Each system runs alone: started (timed: the process's start to serving, and for Ray its
``ray.init`` and deployment), then ``--models`` fresh models one after another, then stopped.
The first model of a fresh process pays the library imports, so it is reported apart from
the rest. Writes bench/results/cold.json.

    python bench/cold.py [--models 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
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
from bench.peers.mesh import Mesh
from bench.peers.mlserver import MLServer
from bench.peers.ray_serve import RayServe
from bench.peers.results import write
from bench.peers.workload import summary

# one cold start: total seconds to the first answer, and the system's own load seconds
Cold = Callable[[str], Awaitable[tuple[float, float]]]
LOAD_SUM = "modelmesh_loadmodel_milliseconds_sum"


async def series(name: str, cold: Cold, model_ids: list[str]) -> dict:
    """The first model (imports and all) and the rest, as totals, own loads and the rest."""
    totals, loads = [], []
    for model_id in model_ids:
        total, load = await cold(model_id)
        totals.append(total)
        loads.append(load)
        print(
            f"{name} {model_id}: {total * 1000:.1f} ms (own load {load * 1000:.1f})",
            file=sys.stderr,
        )
    rest = [t - load for t, load in zip(totals[1:], loads[1:], strict=True)]
    return {
        "first_model_ms": round(totals[0] * 1000, 1),
        "first_model_own_load_ms": round(loads[0] * 1000, 1),
        "next_models": summary(totals[1:]),
        "next_models_own_load": summary(loads[1:]),
        "next_models_beyond_own_load": summary(rest),
    }


async def mesh(root: Path, ids: list[str]) -> dict:
    server = Mesh(root, root / "models")
    try:
        start_s = await server.start()
        infer = GrpcInfer(server.channel)
        async with http_session(1) as session:

            async def cold(model_id: str) -> tuple[float, float]:
                before = (await server.metrics(session)).get(LOAD_SUM, 0.0)
                began = time.perf_counter()
                await server.register(model_id, model_path(model_id), load=False, sync=False)
                await infer(grpc_request(model_id))
                took = time.perf_counter() - began
                after = (await server.metrics(session))[LOAD_SUM]
                return took, (after - before) / 1000

            return {"start_s": round(start_s, 2), **await series("mesh", cold, ids)}
    finally:
        server.stop()


async def mlserver(root: Path, ids: list[str]) -> dict:
    server = MLServer(root)
    try:
        start_s = await server.start()
        infer = GrpcInfer(server.channel)
        async with http_session(1) as session:

            async def cold(model_id: str) -> tuple[float, float]:
                began = time.perf_counter()
                server.add_model(model_id, root / "models" / model_path(model_id))
                await server.load(session, model_id)
                loaded = time.perf_counter()
                await infer(grpc_request(model_id))
                return time.perf_counter() - began, loaded - began

            return {"start_s": round(start_s, 2), **await series("mlserver", cold, ids)}
    finally:
        server.stop()


async def ray(root: Path, ids: list[str]) -> dict:
    server = RayServe(root, root / "models", replicas=1, max_models=len(ids))
    try:
        start_s = await server.start()
        body = json_body()
        async with http_session(1) as session:

            async def cold(model_id: str) -> tuple[float, float]:
                began = time.perf_counter()
                await server.infer(session, model_id, body)
                took = time.perf_counter() - began
                own = [ms for m, ms in server.loads() if m == model_id]
                return took, own[-1] / 1000

            return {
                "start_s": round(start_s, 2),
                "ray_init_s": round(server.timings["ray_init_s"], 2),
                "deploy_s": round(server.timings["serve_up_s"], 2),
                **await series("ray", cold, ids),
            }
    finally:
        server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20, help="fresh models per system")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mm-bench-cold-") as tmp:
        root = Path(tmp)
        systems = {"mesh": mesh, "mlserver": mlserver, "ray": ray}
        ids = {name: [f"{name}-{i}" for i in range(args.models)] for name in systems}
        write_models(root / "models", [m for group in ids.values() for m in group])
        results = {name: await run(root, ids[name]) for name, run in systems.items()}
    write(
        "cold",
        {
            "model": "sklearn LogisticRegression on digits (joblib file per model id)",
            "models_per_system": args.models,
            "how": {
                "mesh": "registerModel, then ModelInfer (gRPC) loads it",
                "mlserver": "model-settings.json + repository load call, then ModelInfer (gRPC)",
                "ray": "first HTTP request with the id (serve.multiplexed loads it)",
            },
            "systems": results,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
