"""Keys and files: storage keys checked before use, and downloads confined to one directory.

Object keys and model paths come from cluster users and from storage servers, and the
runtime later unpickles what lands on disk, so nothing may be written outside a model's
own directory. A key is refused if it is absolute, has a ``.``, ``..`` or empty segment, or
holds a NUL; files are created with ``O_EXCL`` (which never follows a symlink) under
directories this module made itself, and each target's real path is checked once more.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path, PurePosixPath
from typing import Protocol

from modelmesh.runtimes.storage.errors import InvalidLocation, PullCancelled, Scope

CHUNK_BYTES = 1024 * 1024


class Readable(Protocol):
    """What a download is read from: a response, a reader, any binary file."""

    def read(self, size: int, /) -> bytes: ...


def check_key(key: str, what: str = "object key", scope: Scope | None = None) -> PurePosixPath:
    """``key`` as a relative path of plain segments, or InvalidLocation."""
    problem = None
    if not key:
        problem = f"empty {what}"
    elif key.startswith("/"):
        problem = f"{what} {key!r} is absolute; give it relative to its bucket or root"
    elif "\0" in key:
        problem = f"{what} {key!r} contains a NUL character"
    elif any(segment in ("", ".", "..") for segment in key.split("/")):
        problem = (
            f"{what} {key!r} has an empty, '.' or '..' segment; paths must stay inside "
            "the model's directory"
        )
    if problem:
        raise scope.error(InvalidLocation, problem) if scope else InvalidLocation(problem)
    return PurePosixPath(*key.split("/"))


def check_prefix(path: str, what: str = "model path", scope: Scope | None = None) -> str:
    """A model path naming an object or a folder: ``check_key`` but a trailing ``/`` is
    allowed (and dropped)."""
    stripped = path.rstrip("/")
    check_key(stripped or path, what, scope)
    return stripped


class ModelFiles:
    """One model's download directory: files confined to it, bytes counted, cancellable."""

    def __init__(self, root: Path, cancel: threading.Event, scope: Scope) -> None:
        self.root = root
        self.bytes_written = 0
        self._real_root = root.resolve()
        self._cancel = cancel
        self._scope = scope

    def write(self, relative: PurePosixPath, stream: Readable) -> Path:
        """Copy ``stream`` into ``root/relative``; returns the file's path."""
        target = self.root.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.resolve().is_relative_to(self._real_root):
            raise self._scope.error(InvalidLocation, f"{relative} would land outside the model")
        with open(target, "xb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                self.check_cancelled()
                out.write(chunk)
                self.bytes_written += len(chunk)
        return target

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise self._scope.error(PullCancelled, "the pull was cancelled")


def disk_bytes(path: Path) -> int:
    """Bytes of the file at ``path``, or of every file under the directory ``path``."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for directory, _, files in os.walk(path):
        total += sum(os.stat(os.path.join(directory, name)).st_size for name in files)
    return total
