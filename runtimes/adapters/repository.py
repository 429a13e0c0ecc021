"""The directory the adapter writes model layouts into: the server's model repository.

Each loaded model gets one entry named after its id (a hash of the id when the id cannot be a
file name). Entries link to the model's files instead of copying them, as upstream's adapters
do; the adapter owns the directory and empties it when it starts serving.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from modelmesh.runtimes.python.errors import InvalidRequest

# ids usable as a file name, and as a model name in a URL path, as they are
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")


class Repository:
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root.resolve()

    def entry(self, model_id: str, *, suffix: str = "", exact: bool = False) -> Path:
        """The model's entry; ``exact`` when the server takes the entry's name as the model's
        name (Triton), so an id that cannot be a file name is refused."""
        if _SAFE_ID.fullmatch(model_id):
            return self.root / (model_id + suffix)
        if exact:
            raise InvalidRequest(
                f"model id {model_id!r} cannot be a directory name, which this server takes "
                "as the model's name; use letters, digits, '_', '-' and '.'"
            )
        digest = hashlib.sha256(model_id.encode()).hexdigest()[:32]
        return self.root / f"id-{digest}{suffix}"

    def fresh_dir(self, model_id: str, *, exact: bool = False) -> Path:
        """The model's entry as a new empty directory (a leftover is removed first)."""
        path = self.entry(model_id, exact=exact)
        remove(path)
        path.mkdir()
        return path

    def clear(self) -> None:
        for path in self.root.iterdir():
            remove(path)


def remove(path: Path) -> None:
    """Delete a file, link or directory tree at ``path``; nothing there is fine. A link is
    removed itself, never what it points to (the model's own files)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def link(target: Path, at: Path) -> None:
    """A symbolic link at ``at`` to ``target`` (absolute)."""
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target.resolve(), target_is_directory=target.is_dir())
