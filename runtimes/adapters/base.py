"""The shared core of every adapter: loads, sizes and limits around one server's API.

A ``ServerAdapter`` (``mlserver.py``, ``triton.py``, ``torchserve.py``, ``tfserving.py``)
knows only its server: whether it is up, how to make it load or unload one model, which
inference methods it serves. ``AdapterRuntime`` does the rest, the same for all of them:

- a load finds the model as the built-in runtime does: a model in storage (a storage key in
  ``modelKey``, or an ``s3://``/``http(s)://``/``pvc://`` ``modelPath``) is pulled into the
  cache first (``modelmesh.runtimes.storage``, upstream's embedded puller) and removed on
  unload; any other ``modelPath`` resolves inside the models root. Then the server's load
  runs; loads of one id share one attempt, at most
  ``LOADING_CONCURRENCY`` run at once, and each must end within ``LOADTIME_TIMEOUT``
  (queueing included) or the server is told to unload it and the caller gets
  DEADLINE_EXCEEDED;
- a model's size is its bytes on disk (the key's ``disk_size_bytes`` when upstream's puller
  wrote one) x ``MODELSIZE_MULTIPLIER``, else ``DEFAULT_MODELSIZE``, as upstream's adapters;
- before reporting READY, everything loaded in the server is unloaded and the repository
  emptied (upstream's contract: the mesh starts from an empty runtime).

``servicer.py`` serves this as ``ModelRuntime``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from modelmesh.runtimes.adapters.settings import AdapterSettings
from modelmesh.runtimes.model_types import model_type_name, parse_key
from modelmesh.runtimes.python.errors import (
    LoadTimedOut,
    ModelFileMissing,
    ModelNotLoaded,
    PullFailed,
)
from modelmesh.runtimes.python.paths import resolve_model_path
from modelmesh.runtimes.python.pulling import LazyPuller
from modelmesh.runtimes.python.single_load import load_once
from modelmesh.runtimes.storage import (
    MountedPath,
    Source,
    StorageConfig,
    StorageError,
    locate,
)
from modelmesh.runtimes.storage.files import disk_bytes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFiles:
    """A model to load: its id, format (lower case, "" if unknown) and resolved path."""

    model_id: str
    model_type: str
    path: Path
    key: Mapping[str, Any]


class ServerAdapter(ABC):
    """One third-party server, driven through its own API."""

    # "Triton", "MLServer": how messages name the server
    display_name: ClassVar[str]
    # "pkg.Service/Method" -> where in its request the mesh writes the model id
    method_infos: ClassVar[Mapping[str, tuple[int, ...]]]

    @abstractmethod
    async def version(self) -> str | None:
        """The server's name and version once it can load models; None while it cannot."""

    @abstractmethod
    async def loaded_models(self) -> list[str]:
        """The names of the models the server has loaded."""

    @abstractmethod
    async def load(self, model: ModelFiles) -> None:
        """Make the server load ``model`` under the name ``model.model_id``."""

    @abstractmethod
    async def unload(self, model_id: str) -> None:
        """Make the server drop the model and remove its layout; unknown ids are fine."""

    @abstractmethod
    async def clear(self) -> None:
        """Remove every layout this adapter wrote (the server has unloaded them)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""


@dataclass(frozen=True)
class AdapterStatus:
    capacity_bytes: int
    max_loading_concurrency: int
    loading_timeout_ms: int
    default_model_size: int
    version: str
    method_infos: Mapping[str, tuple[int, ...]]
    limit_model_concurrency: int


class AdapterRuntime:
    """The ``ModelRuntime`` operations over one ``ServerAdapter``; one event loop."""

    def __init__(self, server: ServerAdapter, settings: AdapterSettings) -> None:
        self._server = server
        self._settings = settings
        self._sizes: dict[str, int] = {}
        self._loading: dict[str, asyncio.Task[int]] = {}
        self._slots = asyncio.Semaphore(settings.loading_concurrency)
        self._storage = StorageConfig(settings.storage_config_dir)
        self._puller = LazyPuller(
            settings.model_cache_dir,
            timeout_ms=settings.pull_timeout_ms,
            threads=settings.loading_concurrency,
        )

    @property
    def limit_model_concurrency(self) -> int:
        return self._settings.limit_model_concurrency

    async def status(self) -> AdapterStatus | None:
        """The runtime's status, after emptying the server; None while the server is not up."""
        version = await self._server.version()
        if version is None:
            return None
        await self.purge()
        settings = self._settings
        return AdapterStatus(
            capacity_bytes=settings.capacity_bytes,
            max_loading_concurrency=settings.loading_concurrency,
            loading_timeout_ms=settings.loading_timeout_ms,
            default_model_size=settings.default_model_size,
            version=settings.runtime_version or version,
            method_infos=self._server.method_infos,
            limit_model_concurrency=settings.limit_model_concurrency,
        )

    async def purge(self) -> None:
        """Unload everything: what this adapter loaded and whatever else the server holds."""
        for model_id in [*self._loading, *self._sizes]:
            await self.unload(model_id)
        for name in await self._server.loaded_models():
            await self._server.unload(name)
        await self._server.clear()

    # ------------------------------------------------------------ loading

    async def load(self, model_id: str, model_type: str, model_path: str, model_key: str) -> int:
        """Load the model (once, however many ask) and return its size in bytes."""
        if model_id in self._sizes:
            return self._sizes[model_id]
        return await load_once(
            self._loading,
            model_id,
            lambda: self._load(*self._plan(model_id, model_type, model_path, model_key)),
        )

    def _plan(
        self, model_id: str, model_type: str, model_path: str, model_key: str
    ) -> tuple[ModelFiles, Source | None]:
        """The model, and its source when it must be pulled first (``path`` is then only a
        placeholder); reads no model file and asks the server nothing."""
        settings = self._settings
        try:
            place = locate(model_path, model_key, self._storage, pvc_mounts=settings.pvc_mounts_dir)
        except StorageError as exc:
            raise PullFailed(f"model path {model_path!r}: {exc.message}", exc.code) from None
        if isinstance(place, Source):
            path = settings.models_root  # a placeholder: the pull says where it is
        else:
            path = (
                place.path
                if isinstance(place, MountedPath)
                else resolve_model_path(settings.models_root, model_path)
            )
            if not path.exists():
                raise ModelFileMissing(f"model path {model_path!r} does not exist ({path})")
        files = ModelFiles(
            model_id, model_type_name(model_type, model_key), path, parse_key(model_key)
        )
        return files, place if isinstance(place, Source) else None

    async def _load(self, model: ModelFiles, source: Source | None) -> int:
        timeout_ms = self._settings.loading_timeout_ms
        started = time.monotonic()
        stage = "load"
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                if source is not None:
                    stage = "pull"
                    model = await self._pull(model, source)
                    stage = "load"
                async with self._slots:
                    await self._server.load(model)
        except TimeoutError:
            await asyncio.shield(self._abandon(model.model_id))
            raise LoadTimedOut(
                f"{stage}ing model {model.model_id} for {self._server.display_name} took "
                f"longer than {timeout_ms} ms (LOADTIME_TIMEOUT)"
            ) from None
        except BaseException:  # unloaded while loading, or failed: the server may have it
            await asyncio.shield(self._abandon(model.model_id))
            raise
        size = self.size_of(model)
        self._sizes[model.model_id] = size
        logger.info(
            "%s loaded model %s from %s in %.0f ms; size %d bytes",
            self._server.display_name,
            model.model_id,
            model.path,
            (time.monotonic() - started) * 1000,
            size,
        )
        return size

    async def _pull(self, model: ModelFiles, source: Source) -> ModelFiles:
        pulled = await self._puller.pull(model.model_id, source)
        key = {**model.key, "disk_size_bytes": pulled.disk_bytes}
        return ModelFiles(model.model_id, model.model_type, pulled.path, key)

    async def _abandon(self, model_id: str) -> None:
        """After a failed or cancelled load: the server drops the model, the pull goes."""
        await self._server_unload(model_id)
        await self._puller.remove(model_id)

    async def _server_unload(self, model_id: str) -> None:
        try:
            await self._server.unload(model_id)
        except Exception as exc:  # the load's own error is the one to report
            logger.warning("unloading model %s after a failed load failed: %s", model_id, exc)

    async def unload(self, model_id: str) -> None:
        """Abandon the model's load or unload it; a no-op for an unknown id."""
        task = self._loading.pop(model_id, None)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # its clean-up runs; its outcome is not ours to raise
        self._sizes.pop(model_id, None)
        await self._server.unload(model_id)
        await self._puller.remove(model_id)

    # ------------------------------------------------------------ sizes

    def size_of(self, model: ModelFiles) -> int:
        """Bytes on disk x the multiplier, or the default size when that is 0."""
        disk = model.key.get("disk_size_bytes")
        if not (isinstance(disk, int) and disk > 0):
            disk = disk_bytes(model.path)
        return int(disk * self._settings.size_multiplier) or self._settings.default_model_size

    def predict_size(self, model_id: str, model_type: str, model_path: str, model_key: str) -> int:
        """The size a load would report; 0 (unknown) for a model in storage not pulled yet."""
        model, source = self._plan(model_id, model_type, model_path, model_key)
        if source is not None:
            pulled = self._puller.pulled(model_id)
            if pulled is None:
                return 0
            model = ModelFiles(model_id, model.model_type, pulled.path, model.key)
        return self.size_of(model)

    def model_size(self, model_id: str) -> int:
        size = self._sizes.get(model_id)
        if size is None:
            raise ModelNotLoaded(model_id)
        return size

    async def close(self) -> None:
        for task in self._loading.values():
            task.cancel()
        await self._puller.close()
        await self._server.close()
