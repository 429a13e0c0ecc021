"""Virtual environments for the peer servers, apart from ours (their pins differ: MLServer
and Ray want other protobuf and numpy versions than the mesh).

Each lives under ``~/.cache/modelmesh/peer-venvs/<name>`` (or ``$MODELMESH_PEER_VENVS``), outside
the checkout so that every clone on a machine shares it, and is made once: a stamp file holds the
requirements it was made with, so a later run reuses it, and a changed list rebuilds it.
scikit-learn is pinned to our version everywhere, so a model file trained here unpickles the
same in every server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

VENVS = Path(
    os.environ.get("MODELMESH_PEER_VENVS") or Path.home() / ".cache" / "modelmesh" / "peer-venvs"
)
_STAMP = ".bench-requirements"


def _sklearn() -> str:
    return f"scikit-learn=={version('scikit-learn')}"


# name -> pip requirements; PEERS.md §9 says why uvloop is held back for MLServer
PEERS: dict[str, list[str]] = {
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22", _sklearn()],
    "ray": ["ray[serve]==2.60.0", _sklearn()],
    # the adapters' tests (tests/runtimes/adapters): tritonserver ships inside pytriton
    # (PEERS.md §9); TorchServe's worker imports torch (the CPU wheel is on disk here)
    "triton": ["nvidia-pytriton==0.7.0"],
    "torchserve": [
        "torchserve==0.12.0",
        "torch-model-archiver==0.12.0",
        "pyyaml",
        "torch==2.13.0",
        "numpy",
    ],
}


def ensure(name: str, *, log=sys.stderr) -> Path:
    """The venv's directory, made (or remade, when its requirements changed) if needed."""
    requirements = PEERS[name]
    root = VENVS / name
    stamp = root / _STAMP
    wanted = "\n".join(requirements) + "\n"
    if stamp.exists() and stamp.read_text() == wanted:
        return root
    shutil.rmtree(root, ignore_errors=True)
    started = time.monotonic()
    print(f"making {root} ({' '.join(requirements)}); once, a minute or two", file=log)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *requirements], check=True)
    stamp.write_text(wanted)
    print(f"made {root} in {time.monotonic() - started:.0f} s", file=log)
    return root


def python(name: str) -> Path:
    return ensure(name) / "bin" / "python"


if __name__ == "__main__":
    for peer in sys.argv[1:] or list(PEERS):
        ensure(peer)
