"""What a model's location resolves to: a ``Source`` to copy from, or a ``MountedPath``.

``locations.py`` builds them from a model's path and key; ``puller.py`` runs ``fetch`` in a
thread, into a fresh directory, and serves a ``MountedPath`` where it lies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modelmesh.runtimes.storage.errors import Scope
from modelmesh.runtimes.storage.files import ModelFiles


class Source(ABC):
    """A remote model: a single file or a folder of files."""

    scope: Scope

    @abstractmethod
    def describe(self) -> str:
        """Where the model is, for messages (no secrets), e.g. ``s3://bucket/path``."""

    @abstractmethod
    def fetch(self, files: ModelFiles, timeout_s: float) -> PurePosixPath | None:
        """Copy the model into ``files`` (blocking); returns the model file's path relative
        to ``files.root``, or None when the model is the whole directory."""


@dataclass(frozen=True)
class MountedPath:
    """A model on a volume mounted into this container: loaded where it is, never copied."""

    path: Path
    # the directory the model must stay inside: the claim's mount
    root: Path
