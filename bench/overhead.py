"""What the mesh adds to a warm request: the same ModelInfer straight to the runtime's V2
port and through the mesh on its gRPC port, at 1 and 64 requests in flight, in one run.

Both servers are real processes started here: ``modelmesh runtime`` (the built-in runtime
alone) and ``modelmesh serve`` (the mesh with the built-in runtime in-process). The load
generator is this process (grpc.aio), the same for both. Writes bench/results/overhead.json.

    python bench/overhead.py [--seconds 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2 as mm
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from modelmesh.runtimes.tensors import build_infer_request

RESULTS = Path(__file__).parent / "results"
MODEL_ID = "digits"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(models_root: Path) -> np.ndarray:
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    (models_root / "digits").mkdir(parents=True)
    joblib.dump(LogisticRegression(max_iter=200).fit(x, y), models_root / "digits" / "model.joblib")
    return x[:1]


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=out)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def wait_serving(address: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(address) as channel:
        stub = v2_grpc.GRPCInferenceServiceStub(channel)
        while True:
            try:
                await stub.ServerLive(v2.ServerLiveRequest(), timeout=1)
                return
            except grpc.aio.AioRpcError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)


async def drive(
    address: str, request: bytes, concurrency: int, seconds: float, warmup: float
) -> dict:
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        latencies: list[float] = []
        errors = 0
        measuring = False
        stop_at = time.monotonic() + warmup + seconds

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < stop_at:
                start = time.perf_counter()
                try:
                    await call(request)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - start)

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        began = time.monotonic()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
    ms = np.asarray(latencies) * 1000
    return {
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "requests": len(latencies),
        "errors": errors,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    cli = shutil.which("modelmesh") or str(Path(sys.executable).parent / "modelmesh")
    with tempfile.TemporaryDirectory(prefix="mm-bench-") as tmp:
        root = Path(tmp)
        row = train(root / "models")
        direct_port, mgmt_port, mesh_port = free_port(), free_port(), free_port()
        common = {"ROOT_MODEL_DIR": str(root / "models"), "PYTHONUNBUFFERED": "1"}
        runtime_env = {
            **common,
            "INTERNAL_GRPC_PORT": str(mgmt_port),
            "INTERNAL_SERVING_GRPC_PORT": str(direct_port),
        }
        mesh_env = {
            **common,
            "MM_SVC_GRPC_PORT": str(mesh_port),
            "MM_DATA_DIR": str(root / "mesh"),
            # free ports for the HTTP servers beside gRPC
            "REST_PROXY_LISTEN_PORT": "0",
            "MM_PROBE_PORT": "0",
            "MM_METRICS": "prometheus:port=0",
        }
        with (
            process([cli, "runtime"], runtime_env, root / "runtime.log"),
            process([cli, "serve"], mesh_env, root / "mesh.log"),
        ):
            direct, mesh = f"127.0.0.1:{direct_port}", f"127.0.0.1:{mesh_port}"
            await wait_serving(direct)
            await wait_serving(mesh)
            async with grpc.aio.insecure_channel(f"127.0.0.1:{mgmt_port}") as ch:
                await mr_grpc.ModelRuntimeStub(ch).loadModel(
                    mr.LoadModelRequest(modelId=MODEL_ID, modelType="sklearn", modelPath="digits")
                )
            async with grpc.aio.insecure_channel(mesh) as ch:
                status = await mm_grpc.ModelMeshStub(ch).registerModel(
                    mm.RegisterModelRequest(
                        modelId=MODEL_ID,
                        modelInfo=mm.ModelInfo(type="sklearn", path="digits"),
                        loadNow=True,
                        sync=True,
                    )
                )
                assert status.status == mm.ModelStatusInfo.LOADED, status
            request = build_infer_request(MODEL_ID, {"x": row}).SerializeToString()
            results: dict[str, dict] = {}
            for concurrency in args.concurrency:
                d = await drive(direct, request, concurrency, args.seconds, args.warmup)
                m = await drive(mesh, request, concurrency, args.seconds, args.warmup)
                results[str(concurrency)] = {
                    "direct_rps": d["rps"],
                    "mesh_rps": m["rps"],
                    "direct_p50_ms": d["p50_ms"],
                    "mesh_p50_ms": m["p50_ms"],
                    "direct_p99_ms": d["p99_ms"],
                    "mesh_p99_ms": m["p99_ms"],
                    "throughput_ratio": round(m["rps"] / d["rps"], 3),
                    "added_p50_ms": round(m["p50_ms"] - d["p50_ms"], 3),
                    "errors": d["errors"] + m["errors"],
                }
                print(
                    f"in flight {concurrency}: {json.dumps(results[str(concurrency)])}",
                    file=sys.stderr,
                )
    out = {
        "benchmark": "overhead",
        "model": "sklearn LogisticRegression on digits, 1 row",
        "seconds": args.seconds,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "concurrency": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "overhead.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS / 'overhead.json'}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
