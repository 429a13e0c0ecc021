"""The puller: copies models out of storage into a local cache, and removes them again.

``Puller.pull(model_id, source)`` downloads a ``Source`` (``locations.py``) into a fresh
directory of its own under the cache root, in a thread, and returns a ``PulledModel``: the
local path to load, and the bytes it takes on disk. Pulls of one model id share one
download. ``remove`` deletes the copy (or stops a pull under way, whose thread then
deletes what it wrote). A ``MountedPath`` is served where it lies and never deleted.

The cache root may be shared by several runtimes: each puller works in a directory of its
own, ``run-<id>/``, beside a lock file ``run-<id>.lock`` it holds (``flock``) while alive.
A new puller deletes every run directory whose lock nobody holds: what a crashed runtime
left behind.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import itertools
import logging
import os
import re
import secrets
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from modelmesh.runtimes.storage.errors import PullCancelled, PullFailed, StorageError
from modelmesh.runtimes.storage.files import ModelFiles, disk_bytes
from modelmesh.runtimes.storage.sources import MountedPath, Source
from modelmesh.runtimes.storage.transport import describe

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PulledModel:
    # the model's file or directory, to load
    path: Path
    # the directory the model must stay inside: its own download directory, or its claim
    root: Path
    disk_bytes: int
    # False for a mounted model, which is read in place and never deleted
    copied: bool = True


@dataclass
class _Pull:
    task: asyncio.Task[PulledModel]
    cancel: threading.Event


class Puller:
    """Pulls and removes models for one runtime; use from one event loop."""

    def __init__(self, cache_root: Path, *, timeout_s: float, threads: int = 2) -> None:
        self.timeout_s = timeout_s
        cache_root.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(cache_root)
        self._lock_path, self._lock_fd = _lock_new_run(cache_root)
        self.directory = self._lock_path.with_suffix("")
        self.directory.mkdir(mode=0o700)
        self._names = itertools.count(1)
        self._pulled: dict[str, PulledModel] = {}
        self._pulls: dict[str, _Pull] = {}
        self._deletions: set[asyncio.Task[None]] = set()
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="model-pull")

    @property
    def disk_bytes(self) -> int:
        """Bytes on disk of all the copies this puller holds (mounted models not counted)."""
        return sum(pulled.disk_bytes for pulled in self._pulled.values() if pulled.copied)

    def pulled(self, model_id: str) -> PulledModel | None:
        return self._pulled.get(model_id)

    async def pull(self, model_id: str, source: Source | MountedPath) -> PulledModel:
        """The local copy of the model, pulled now unless present or under way."""
        done = self._pulled.get(model_id)
        if done is not None:
            return done
        pull = self._pulls.get(model_id)
        if pull is None:
            cancel = threading.Event()
            task = asyncio.create_task(
                self._pull(model_id, source, cancel), name=f"pull {model_id}"
            )
            pull = self._pulls[model_id] = _Pull(task, cancel)
            task.add_done_callback(functools.partial(self._forget, model_id, pull))
        # shielded: one caller going away does not stop a pull others wait for
        return await asyncio.shield(pull.task)

    def _forget(self, model_id: str, pull: _Pull, task: asyncio.Task[PulledModel]) -> None:
        if self._pulls.get(model_id) is pull:
            del self._pulls[model_id]
        if not task.cancelled() and task.exception() is not None:
            logger.warning("pulling model %s failed: %s", model_id, task.exception())

    async def _pull(
        self, model_id: str, source: Source | MountedPath, cancel: threading.Event
    ) -> PulledModel:
        loop = asyncio.get_running_loop()
        if isinstance(source, MountedPath):
            size = await loop.run_in_executor(self._threads, disk_bytes, source.path)
            pulled = PulledModel(source.path, source.root, size, copied=False)
        else:
            directory = self.directory / f"{_safe(model_id)}-{next(self._names)}"
            try:
                pulled = await loop.run_in_executor(
                    self._threads, self._download, source, directory, cancel
                )
            except StorageError:
                if cancel.is_set():  # whatever stopped the download, the model is gone
                    raise _cancelled(model_id) from None
                raise
            logger.info(
                "pulled model %s from %s: %d bytes on disk",
                model_id,
                source.describe(),
                pulled.disk_bytes,
            )
        if cancel.is_set():  # removed while the download ran: drop what it wrote
            await self._delete(pulled)
            raise _cancelled(model_id)
        self._pulled[model_id] = pulled
        return pulled

    def _download(self, source: Source, directory: Path, cancel: threading.Event) -> PulledModel:
        """Runs in a pull thread; on any failure nothing stays on disk."""
        directory.mkdir(mode=0o700)
        files = ModelFiles(directory, cancel, source.scope)
        try:
            relative = source.fetch(files, self.timeout_s)
        except BaseException as exc:
            shutil.rmtree(directory, ignore_errors=True)
            if isinstance(exc, StorageError):
                raise
            # a bug, not a storage problem; its text may hold anything, so it is redacted
            raise source.scope.error(
                PullFailed, f"pulling {source.describe()} failed: {describe(exc)}"
            ) from None
        path = directory.joinpath(*relative.parts) if relative else directory
        return PulledModel(path, directory, files.bytes_written)

    async def remove(self, model_id: str) -> None:
        """Delete the model's copy, or stop its pull; a no-op for an unknown id."""
        pulled = self._forget_now(model_id)
        if pulled is not None:
            await self._delete(pulled)

    def discard(self, model_id: str) -> None:
        """``remove`` for callers that cannot wait: the model is gone from the books at once
        (a pull of it starts afresh), its files are deleted in the background."""
        pulled = self._forget_now(model_id)
        if pulled is not None and pulled.copied:
            task = asyncio.create_task(self._delete(pulled), name=f"delete {model_id}")
            self._deletions.add(task)
            task.add_done_callback(self._deletions.discard)

    def _forget_now(self, model_id: str) -> PulledModel | None:
        pull = self._pulls.pop(model_id, None)
        if pull is not None:
            pull.cancel.set()  # the pull deletes its files when its thread notices
        return self._pulled.pop(model_id, None)

    async def _delete(self, pulled: PulledModel) -> None:
        if pulled.copied:
            await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(shutil.rmtree, pulled.root, ignore_errors=True)
            )

    async def close(self) -> None:
        """Stop every pull, delete every copy and this puller's directory; idempotent."""
        if self._lock_fd < 0:
            return
        for model_id in [*self._pulls, *self._pulled]:
            await self.remove(model_id)
        await asyncio.gather(*self._deletions)
        self._threads.shutdown(wait=False, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(shutil.rmtree, self.directory, ignore_errors=True)
        )
        self._lock_path.unlink(missing_ok=True)
        os.close(self._lock_fd)
        self._lock_fd = -1


def _cancelled(model_id: str) -> PullCancelled:
    return PullCancelled(f"model {model_id} was removed while it was being pulled")


def _safe(model_id: str) -> str:
    """A directory name recognisably from the model id (which may hold any character)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)[:64].lstrip(".") or "model"


def _lock_new_run(cache_root: Path) -> tuple[Path, int]:
    """A new run's lock file, created and locked: its path and descriptor."""
    while True:
        path = cache_root / f"run-{secrets.token_hex(6)}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return path, fd
        except FileNotFoundError:
            pass  # another runtime's clean-up took it between open and lock: try again
        os.close(fd)


def _remove_abandoned(cache_root: Path) -> None:
    """Delete the run directories of pullers that are gone (their lock is free or lost)."""
    for directory in cache_root.glob("run-*"):
        if not directory.is_dir():
            continue
        lock = cache_root / f"{directory.name}.lock"
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            fd = None
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live puller's
            logger.info("removing %s, left behind by a runtime that is gone", directory)
            shutil.rmtree(directory, ignore_errors=True)
            lock.unlink(missing_ok=True)
        finally:
            if fd is not None:
                os.close(fd)
