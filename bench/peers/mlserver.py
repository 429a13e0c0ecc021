"""MLServer (Seldon, Apache-2.0) as PEERS.md §9 runs it: one ``mlserver start`` in its own
venv, every model a folder with ``model-settings.json`` (SKLearnModel on our joblib file),
``load_models_at_startup: false`` and ``parallel_workers: 0`` (in-process: its fastest
inference here, PEERS.md §5). Models are loaded and unloaded through its repository API;
it never evicts on its own. Inference over V2 gRPC (same ``inference`` package as ours) and
V2 REST.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import grpc

from bench.peers import venvs
from bench.peers.process import ServerProcess
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from tests.support.etcd import free_ports


class MLServer:
    def __init__(self, directory: Path) -> None:
        self.repository = directory / "mlserver-models"
        self.repository.mkdir(parents=True, exist_ok=True)
        http_port, grpc_port, metrics_port = free_ports(3)
        self.grpc_address = f"127.0.0.1:{grpc_port}"
        self.rest_url = f"http://127.0.0.1:{http_port}"
        settings = {
            "debug": False,
            "host": "127.0.0.1",
            "http_port": http_port,
            "grpc_port": grpc_port,
            "metrics_port": metrics_port,
            "load_models_at_startup": False,
            "parallel_workers": 0,
        }
        (self.repository / "settings.json").write_text(json.dumps(settings))
        mlserver = venvs.ensure("mlserver") / "bin" / "mlserver"
        self.process = ServerProcess(
            "mlserver",
            [str(mlserver), "start", str(self.repository)],
            {"PYTHONUNBUFFERED": "1"},
            directory / "mlserver.log",
        )
        self._channel: grpc.aio.Channel | None = None

    def add_model(self, model_id: str, model_file: Path) -> None:
        """Make ``model_id`` known to the repository (not loaded)."""
        folder = self.repository / model_id
        folder.mkdir(exist_ok=True)
        settings = {
            "name": model_id,
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(model_file.resolve())},
        }
        (folder / "model-settings.json").write_text(json.dumps(settings))

    async def start(self) -> float:
        """Start it; seconds until its gRPC ServerReady says yes."""
        self.process.start()
        self._channel = grpc.aio.insecure_channel(self.grpc_address)
        ready = v2_grpc.GRPCInferenceServiceStub(self._channel).ServerReady

        async def is_ready() -> bool:
            return (await ready(v2.ServerReadyRequest(), timeout=1)).ready

        return await self.process.wait_until(is_ready)

    def stop(self) -> None:
        self.process.stop()

    @property
    def channel(self) -> grpc.aio.Channel:
        assert self._channel is not None, "start() first"
        return self._channel

    async def load(self, session: aiohttp.ClientSession, model_id: str) -> None:
        await self._repository_call(session, model_id, "load")

    async def unload(self, session: aiohttp.ClientSession, model_id: str) -> None:
        await self._repository_call(session, model_id, "unload")

    async def _repository_call(
        self, session: aiohttp.ClientSession, model_id: str, action: str
    ) -> None:
        url = f"{self.rest_url}/v2/repository/models/{model_id}/{action}"
        async with session.post(url, data=b"{}") as response:
            if response.status != 200:
                raise RuntimeError(
                    f"MLServer {action} {model_id}: {response.status} {await response.text()}"
                )
