"""A runtime's pulls: a ``Puller`` made at the first pull, its failures as ``PullFailed``.

The built-in runtime (``runtime.py``) and every adapter (``adapters/base.py``) pull models
from storage the same way; this is that way. The ``Puller`` (``modelmesh.runtimes.storage``)
is made only when a model first needs one, because making it creates its cache directory,
which a runtime serving only local models should not leave behind. Until then removing,
discarding and closing are no-ops.
"""

from __future__ import annotations

from pathlib import Path

from modelmesh.runtimes.python.errors import PullFailed
from modelmesh.runtimes.storage import MountedPath, PulledModel, Puller, Source, StorageError


class LazyPuller:
    """A ``Puller`` over ``cache_dir``, made when first needed; use from one event loop."""

    def __init__(self, cache_dir: Path, *, timeout_ms: int, threads: int) -> None:
        self._cache_dir = cache_dir
        self._timeout_s = timeout_ms / 1000
        self._threads = threads
        self._puller: Puller | None = None

    async def pull(self, model_id: str, place: Source | MountedPath) -> PulledModel:
        """The model's local copy; a storage error becomes ``PullFailed`` with its code."""
        if self._puller is None:
            self._puller = Puller(self._cache_dir, timeout_s=self._timeout_s, threads=self._threads)
        try:
            return await self._puller.pull(model_id, place)
        except StorageError as exc:
            raise PullFailed(f"pulling model {model_id} failed: {exc.message}", exc.code) from None

    def pulled(self, model_id: str) -> PulledModel | None:
        return self._puller.pulled(model_id) if self._puller is not None else None

    async def remove(self, model_id: str) -> None:
        if self._puller is not None:
            await self._puller.remove(model_id)

    def discard(self, model_id: str) -> None:
        if self._puller is not None:
            self._puller.discard(model_id)

    async def close(self) -> None:
        if self._puller is not None:
            await self._puller.close()
