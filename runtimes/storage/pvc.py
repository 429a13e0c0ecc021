"""Models on a PersistentVolumeClaim mounted into this container, loaded where they lie.

Upstream mounts each claim at ``<PVC_MOUNTS_DIR>/<claim name>``; a model path is relative
to its claim. After ``..`` and symlinks are resolved the model must still be inside the
claim's mount: a path or link leading elsewhere is refused before anything is read.
"""

from __future__ import annotations

from pathlib import Path

from modelmesh.runtimes.storage.errors import InvalidLocation, NotInStorage, Scope
from modelmesh.runtimes.storage.files import check_key, check_prefix
from modelmesh.runtimes.storage.sources import MountedPath


def mounted_path(mounts_dir: Path, claim: str, model_path: str, scope: Scope) -> MountedPath:
    """The model at ``model_path`` on ``claim``, checked to exist inside its mount."""
    check_key(claim, "PVC name", scope)
    if "/" in claim:
        raise scope.error(InvalidLocation, f"PVC name {claim!r} has a '/'")
    relative = check_prefix(model_path, scope=scope)
    root = (mounts_dir / claim).resolve()
    if not root.is_dir():
        raise scope.error(
            NotInStorage, f"PVC {claim!r} is not mounted at {mounts_dir / claim} (PVC_MOUNTS_DIR)"
        )
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise scope.error(InvalidLocation, f"model path {model_path!r} leads out of PVC {claim!r}")
    if not path.exists():
        raise scope.error(NotInStorage, f"nothing at {model_path!r} on PVC {claim!r}")
    return MountedPath(path, root)
