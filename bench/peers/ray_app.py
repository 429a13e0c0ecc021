"""The Ray Serve side, run by the Ray venv's Python (not ours): a local Ray on 127.0.0.1 and
one deployment whose models come from ``serve.multiplexed`` (Ray's own on-demand loading,
LRU by count per replica), asked for with the ``serve_multiplexed_model_id`` header.

The body is KServe V2 JSON (as our REST front door takes), the answer V2-shaped JSON. Every
load appends ``<model id> <ms>`` to ``<stats>/loads-<pid>.txt``, so the harness counts loads
per replica without asking Ray. When up, it writes ``--ready`` (JSON: start-up timings) and
waits for SIGTERM, then shuts Serve and Ray down.

    python ray_app.py --models-root DIR --port P --ready FILE --stats DIR
        [--replicas 1] [--max-models 3] [--max-ongoing 64]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import ray
from ray import serve
from starlette.requests import Request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--max-models", type=int, default=3)
    parser.add_argument("--max-ongoing", type=int, default=64)
    args = parser.parse_args()

    began = time.monotonic()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=128 * 1024 * 1024,
        _node_ip_address="127.0.0.1",
    )
    ray_up = time.monotonic()
    # no access line per request: the other systems log none either
    quiet = {"enable_access_log": False, "log_level": "WARNING"}
    serve.start(http_options={"host": "127.0.0.1", "port": args.port}, logging_config=quiet)
    root, stats = args.models_root, args.stats

    @serve.deployment(
        num_replicas=args.replicas, max_ongoing_requests=args.max_ongoing, logging_config=quiet
    )
    class Digits:
        def __init__(self) -> None:
            self.log = Path(stats) / f"loads-{os.getpid()}.txt"

        @serve.multiplexed(max_num_models_per_replica=args.max_models)
        async def model(self, model_id: str) -> object:
            start = time.perf_counter()
            model = joblib.load(Path(root) / model_id / "model.joblib")
            with self.log.open("a") as out:
                out.write(f"{model_id} {(time.perf_counter() - start) * 1000:.3f}\n")
            return model

        async def __call__(self, request: Request) -> dict:
            model_id = serve.get_multiplexed_model_id()
            model = await self.model(model_id)
            body = await request.json()
            tensor = body["inputs"][0]
            x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
            labels = model.predict(x)  # type: ignore[attr-defined]
            return {
                "model_name": model_id,
                "outputs": [
                    {
                        "name": "label",
                        "shape": [len(labels)],
                        "datatype": "INT64",
                        "data": labels.tolist(),
                    }
                ],
            }

    serve.run(Digits.bind(), route_prefix="/")
    Path(args.ready).write_text(
        json.dumps({"ray_init_s": ray_up - began, "serve_up_s": time.monotonic() - ray_up})
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
