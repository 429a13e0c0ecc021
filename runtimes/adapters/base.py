"""The shared core of every adapter: loads, sizes and limits around one server's API.

A ``ServerAdapter`` (``mlserver.py``, ``triton.py``, ``torchserve.py``, ``tfserving.py``)
knows only its server: whether it is up, how to make it load or unload one model, which
inference methods it serves. ``AdapterRuntime`` does the rest, the same for all of them:

- a load resolves ``modelPath`` inside the models root (``paths.py`` of the built-in runtime),
  then runs the server's load; loads of one id share one attempt, at most
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
import contextlib
import functools
import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from modelmesh.runtimes.adapters.settings import AdapterSettings
from modelmesh.runtimes.model_types import model_type_name, parse_key
from modelmesh.runtimes.python.errors import (
    LoadAbandoned,
    LoadTimedOut,
    ModelFileMissing,
    ModelNotLoaded,
)
from modelmesh.runtimes.python.paths import resolve_model_path

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
        task = self._loading.get(model_id)
        if task is None:
            model = self._plan(model_id, model_type, model_path, model_key)
            task = asyncio.create_task(self._load(model), name=f"load {model_id}")
            self._loading[model_id] = task
            task.add_done_callback(functools.partial(self._forget_load, model_id))
        try:
            # shielded: a caller going away does not abort a load others may wait for
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and not (current and current.cancelling()):
                raise LoadAbandoned(f"model {model_id} was unloaded while loading") from None
            raise

    def _forget_load(self, model_id: str, task: asyncio.Task[int]) -> None:
        if self._loading.get(model_id) is task:
            del self._loading[model_id]
        if not task.cancelled() and task.exception() is not None:
            logger.warning("loading model %s failed: %s", model_id, task.exception())

    def _plan(self, model_id: str, model_type: str, model_path: str, model_key: str) -> ModelFiles:
        """The model's files and format, or an error; asks the server nothing."""
        path = resolve_model_path(self._settings.models_root, model_path)
        if not path.exists():
            raise ModelFileMissing(f"model path {model_path!r} does not exist ({path})")
        return ModelFiles(
            model_id, model_type_name(model_type, model_key), path, parse_key(model_key)
        )

    async def _load(self, model: ModelFiles) -> int:
        timeout_ms = self._settings.loading_timeout_ms
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                async with self._slots:
                    await self._server.load(model)
        except TimeoutError:
            await self._server_unload(model.model_id)
            raise LoadTimedOut(
                f"{self._server.display_name} took longer than {timeout_ms} ms "
                f"(LOADTIME_TIMEOUT) to load model {model.model_id} from {model.path}"
            ) from None
        except asyncio.CancelledError:  # unloaded while loading: the server may finish later
            await asyncio.shield(self._server_unload(model.model_id))
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
            with contextlib.suppress(BaseException):
                await task
        self._sizes.pop(model_id, None)
        await self._server.unload(model_id)

    # ------------------------------------------------------------ sizes

    def size_of(self, model: ModelFiles) -> int:
        """Bytes on disk x the multiplier, or the default size when that is 0."""
        disk = model.key.get("disk_size_bytes")
        if not (isinstance(disk, int) and disk > 0):
            disk = _disk_bytes(model.path)
        return int(disk * self._settings.size_multiplier) or self._settings.default_model_size

    def predict_size(self, model_id: str, model_type: str, model_path: str, model_key: str) -> int:
        return self.size_of(self._plan(model_id, model_type, model_path, model_key))

    def model_size(self, model_id: str) -> int:
        size = self._sizes.get(model_id)
        if size is None:
            raise ModelNotLoaded(model_id)
        return size

    async def close(self) -> None:
        for task in self._loading.values():
            task.cancel()
        await self._server.close()


def _disk_bytes(path: Path) -> int:
    """Bytes of the file, or of every file under the directory, links followed."""
    if path.is_file():
        return path.stat().st_size
    return sum(
        os.stat(os.path.join(directory, name)).st_size
        for directory, _, names in os.walk(path, followlinks=True)
        for name in names
    )
