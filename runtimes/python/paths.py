"""Where a model's files are: ``modelPath`` resolved inside the models root, then the file.

A path is refused (INVALID_ARGUMENT) before anything under it is read when, after ``..`` and
symlinks are resolved, it lies outside the root: the mesh passes paths from cluster users,
and the loaders unpickle what they read.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelmesh.runtimes.python.errors import InvalidRequest, ModelFileMissing

# Files a model directory may hold beside the model itself (MLServer's settings, dotfiles).
_IGNORED = {"model-settings.json"}
# Linux's limits on a path and on one of its names, in bytes
_PATH_MAX, _NAME_MAX = 4096, 255


def resolve_model_path(root: Path, model_path: str) -> Path:
    """The real path of ``model_path`` (relative to ``root``, or absolute inside it)."""
    if not model_path.strip():
        raise InvalidRequest("no model path given")
    if "\x00" in model_path:
        raise InvalidRequest(f"model path {model_path!r} contains a NUL character")
    encoded = os.fsencode(model_path)
    if len(encoded) > _PATH_MAX or any(len(part) > _NAME_MAX for part in encoded.split(b"/")):
        raise InvalidRequest(
            f"model path {model_path[:80]!r}... is longer than a file system allows "
            f"({_PATH_MAX} bytes, {_NAME_MAX} per name)"
        )
    real_root = root.resolve()
    real = (real_root / model_path).resolve()  # an absolute model_path replaces the root
    if not real.is_relative_to(real_root):
        raise InvalidRequest(f"model path {model_path!r} is outside the models root {real_root}")
    return real


def find_model_file(root: Path, path: Path, model_format: str, suffixes: tuple[str, ...]) -> Path:
    """``path`` itself if a file, else the one file in directory ``path`` with a suffix."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise ModelFileMissing(f"{model_format} model path {path} does not exist")
    found = sorted(
        entry
        for entry in path.iterdir()
        if entry.suffix.lower() in suffixes
        and not entry.name.startswith(".")
        and entry.name not in _IGNORED
    )
    wanted = f"{model_format} model file ({', '.join(suffixes)})"
    if not found:
        raise ModelFileMissing(f"no {wanted} in {path}")
    if len(found) > 1:
        names = ", ".join(entry.name for entry in found)
        raise ModelFileMissing(f"{len(found)} files could be the {wanted} in {path}: {names}")
    # the directory was inside the root, but the file in it may be a symlink out of it
    return resolve_model_path(root, str(found[0]))
