"""Ray Serve (Apache-2.0) with model multiplexing, as PEERS.md §3 and §9 run it: a local Ray
started by ``ray_app.py`` in Ray's own venv, its HTTP proxy on a free loopback port. A model
is asked for by header; nothing is registered (any id under the models root loads on demand,
and each replica keeps at most ``max_models`` by LRU).
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp

from bench.peers import venvs
from bench.peers.process import ServerProcess
from tests.support.etcd import free_ports

APP = Path(__file__).with_name("ray_app.py")
MODEL_HEADER = "serve_multiplexed_model_id"


class RayServe:
    def __init__(
        self,
        directory: Path,
        models_root: Path,
        *,
        replicas: int = 1,
        max_models: int = 3,
        max_ongoing: int = 64,
    ) -> None:
        (port,) = free_ports(1)
        self.url = f"http://127.0.0.1:{port}/"
        self.replicas, self.max_models, self.max_ongoing = replicas, max_models, max_ongoing
        self.ready_file = directory / "ray-ready.json"
        self.stats = directory / "ray-stats"
        self.stats.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        python = venvs.ensure("ray") / "bin" / "python"
        self.process = ServerProcess(
            "ray-serve",
            [
                str(python),
                str(APP),
                f"--models-root={models_root}",
                f"--port={port}",
                f"--ready={self.ready_file}",
                f"--stats={self.stats}",
                f"--replicas={replicas}",
                f"--max-models={max_models}",
                f"--max-ongoing={max_ongoing}",
            ],
            {"PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"},
            directory / "ray.log",
        )
        self.timings: dict[str, float] = {}

    def config(self) -> dict[str, int]:
        return {
            "replicas": self.replicas,
            "max_num_models_per_replica": self.max_models,
            "max_ongoing_requests": self.max_ongoing,
        }

    async def start(self) -> float:
        """Start Ray and the deployment; seconds until the app says it is up."""
        self.process.start()

        async def ready() -> bool:
            return self.ready_file.exists()

        took = await self.process.wait_until(ready, timeout_s=180)
        self.timings = json.loads(self.ready_file.read_text())
        return took

    def stop(self) -> None:
        self.process.stop()

    def loads(self) -> list[tuple[str, float]]:
        """(model id, ms) of every load so far, over all replicas."""
        found = []
        for path in self.stats.glob("loads-*.txt"):
            for line in path.read_text().splitlines():
                model_id, ms = line.split()
                found.append((model_id, float(ms)))
        return found

    async def infer(self, session: aiohttp.ClientSession, model_id: str, body: bytes) -> dict:
        headers = {MODEL_HEADER: model_id, "Content-Type": "application/json"}
        async with session.post(self.url, data=body, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"Ray Serve {response.status}: {(await response.text())[:200]}")
            return await response.json()
