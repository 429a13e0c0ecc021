"""Servers with the V2 model repository API (MLServer, Triton): what their adapters share.

Both answer ``GET /v2/health/ready`` and ``GET /v2`` (name, version), list loaded models
with ``POST /v2/repository/index {"ready": true}``, and load or unload a model of their
repository by name with ``POST /v2/repository/models/<name>/load|unload``. They differ in
the layout a model needs in the repository: ``write_layout``, in ``mlserver.py`` and
``triton.py``. Both serve KServe V2 gRPC (package ``inference``) for inference.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path
from urllib.parse import quote

from modelmesh.runtimes.adapters.base import ModelFiles, ServerAdapter
from modelmesh.runtimes.adapters.errors import ServerError, code_for_http
from modelmesh.runtimes.adapters.http_api import HttpApi
from modelmesh.runtimes.adapters.repository import Repository, remove
from modelmesh.runtimes.adapters.settings import AdapterSettings

# the V2 methods, the model id at field 1 of each request (model_name / name)
V2_METHODS = {
    "inference.GRPCInferenceService/ModelInfer": (1,),
    "inference.GRPCInferenceService/ModelMetadata": (1,),
    "inference.GRPCInferenceService/ModelReady": (1,),
}


class V2RepositoryAdapter(ServerAdapter):
    method_infos = V2_METHODS

    def __init__(self, settings: AdapterSettings) -> None:
        self._api = HttpApi(settings.http_endpoint, self.display_name)
        self._repository = Repository(settings.repository_dir)

    @abstractmethod
    def write_layout(self, model: ModelFiles) -> Path:
        """Write what the server needs to find ``model`` by its id; the entry written."""

    async def version(self) -> str | None:
        ready = await self._api.call("GET", "/v2/health/ready", timeout_s=5)
        if not ready.ok:
            return None
        meta = await self._api.call("GET", "/v2", timeout_s=5)
        data = meta.data if isinstance(meta.data, dict) else {}
        return f"{data.get('name') or self.display_name}/{data.get('version') or 'unknown'}"

    async def loaded_models(self) -> list[str]:
        reply = await self._api.call("POST", "/v2/repository/index", body={"ready": True})
        if not reply.ok or not isinstance(reply.data, list):
            raise ServerError(
                f"{self.display_name} could not list its models: {reply.message()}",
                code_for_http(reply.status),
            )
        return sorted({str(entry["name"]) for entry in reply.data if isinstance(entry, dict)})

    async def load(self, model: ModelFiles) -> None:
        entry = self.write_layout(model)
        reply = await self._api.call("POST", f"{_model_path(model.model_id)}/load")
        if not reply.ok:
            remove(entry)
            raise ServerError(
                f"{self.display_name} could not load model {model.model_id}: {reply.message()}",
                code_for_http(reply.status),
            )

    async def unload(self, model_id: str) -> None:
        reply = await self._api.call("POST", f"{_model_path(model_id)}/unload")
        # refused for a model the server does not know: what we wanted anyway
        if not reply.ok and model_id in await self.loaded_models():
            raise ServerError(
                f"{self.display_name} could not unload model {model_id}: {reply.message()}",
                code_for_http(reply.status),
            )
        remove(self._repository.entry(model_id))

    async def clear(self) -> None:
        self._repository.clear()

    async def close(self) -> None:
        await self._api.close()


def _model_path(model_id: str) -> str:
    return f"/v2/repository/models/{quote(model_id, safe='')}"
