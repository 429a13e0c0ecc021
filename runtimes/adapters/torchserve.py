"""TorchServe through its management API (HTTP, ``SERVER_HTTP_ENDPOINT``, port 8081 by
default; start it with ``--model-store`` = ``SERVER_REPOSITORY_DIR``, ``--ncs``, and token
authorization disabled, since the adapter sends no token).

A model is a model archive (``.mar``, made by ``torch-model-archiver``): the model path names
the file, or a directory holding exactly one. Each load links it into the model store as
``<model id>.mar`` and registers it with
``POST /models?url=<id>.mar&model_name=<id>&initial_workers=1&synchronous=true``; unload is
``DELETE /models/<id>``. Inference goes straight from the mesh to TorchServe's gRPC
``InferenceAPIsService/Predictions`` (port 7070), the model id written into ``model_name``
(field 1); TorchServe has no KServe V2 gRPC of its own.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from modelmesh.runtimes.adapters.base import ModelFiles, ServerAdapter
from modelmesh.runtimes.adapters.errors import ServerError, code_for_http
from modelmesh.runtimes.adapters.http_api import HttpApi
from modelmesh.runtimes.adapters.repository import Repository, link, remove
from modelmesh.runtimes.adapters.settings import AdapterSettings
from modelmesh.runtimes.python.errors import ModelFileMissing

PREDICTIONS = "org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions"
ARCHIVE_SUFFIX = ".mar"
# TorchServe lists models in pages; its largest page
_PAGE = 1000


def find_archive(path: Path) -> Path:
    """The model archive at ``path``: the file itself, or the one ``.mar`` in the directory."""
    if path.is_file():
        return path
    archives = sorted(p for p in path.iterdir() if p.suffix == ARCHIVE_SUFFIX and p.is_file())
    if len(archives) != 1:
        found = ", ".join(p.name for p in archives) or "none"
        raise ModelFileMissing(
            f"TorchServe needs one model archive ({ARCHIVE_SUFFIX}) in {path}; found {found}"
        )
    return archives[0]


class TorchServeAdapter(ServerAdapter):
    display_name = "TorchServe"
    method_infos = {PREDICTIONS: (1,)}

    def __init__(self, settings: AdapterSettings) -> None:
        self._api = HttpApi(settings.http_endpoint, self.display_name)
        self._store = Repository(settings.repository_dir)

    async def version(self) -> str | None:
        reply = await self._api.call("GET", "/models", params={"limit": "1"}, timeout_s=5)
        if not reply.ok:
            return None
        described = await self._api.call("OPTIONS", "/", timeout_s=5)
        info = described.data.get("info") if isinstance(described.data, dict) else None
        version = info.get("version") if isinstance(info, dict) else None
        return f"torchserve/{version or 'unknown'}"

    async def loaded_models(self) -> list[str]:
        names: list[str] = []
        token = ""
        while True:
            params = {"limit": str(_PAGE), **({"next_page_token": token} if token else {})}
            reply = await self._api.call("GET", "/models", params=params)
            if not reply.ok or not isinstance(reply.data, dict):
                raise ServerError(
                    f"TorchServe could not list its models: {reply.message()}",
                    code_for_http(reply.status),
                )
            names += [str(m["modelName"]) for m in reply.data.get("models", [])]
            token = str(reply.data.get("nextPageToken") or "")
            if not token:
                return names

    async def load(self, model: ModelFiles) -> None:
        archive = find_archive(model.path)
        entry = self._store.entry(model.model_id, suffix=ARCHIVE_SUFFIX)
        remove(entry)
        link(archive, entry)
        params = {
            "url": entry.name,
            "model_name": model.model_id,
            "initial_workers": "1",
            "synchronous": "true",
        }
        reply = await self._api.call("POST", "/models", params=params)
        if not reply.ok:
            remove(entry)
            raise ServerError(
                f"TorchServe could not register model {model.model_id}: {reply.message()}",
                code_for_http(reply.status),
            )

    async def unload(self, model_id: str) -> None:
        reply = await self._api.call("DELETE", f"/models/{quote(model_id, safe='')}")
        if not reply.ok and reply.status != 404:  # 404: not registered; fine
            raise ServerError(
                f"TorchServe could not unregister model {model_id}: {reply.message()}",
                code_for_http(reply.status),
            )
        remove(self._store.entry(model_id, suffix=ARCHIVE_SUFFIX))

    async def clear(self) -> None:
        self._store.clear()

    async def close(self) -> None:
        await self._api.close()
