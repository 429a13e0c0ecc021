"""The demo model of ``modelmesh serve --demo``: a digits classifier and a request for it.

``prepare_demo`` trains a scikit-learn LogisticRegression on the digits data set that
scikit-learn ships (no download), once per models directory, and writes a sample request
in the KServe V2 JSON form next to it; ``mesh/app.py`` registers the model.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

MODEL_ID = "demo-digits"
MODEL_TYPE = "sklearn"
MODEL_PATH = "demo/digits.joblib"
SAMPLE_PATH = "demo/digits-request.json"


@dataclass(frozen=True)
class Demo:
    model_id: str
    model_type: str
    # relative to the models root, as the runtime resolves ModelInfo.path
    path: str
    sample_input_path: Path
    # a predict command line for the sample, ready to paste
    command: str


def prepare_demo(models_root: Path, *, address: str | None = None) -> Demo:
    """Train the model unless ``models_root`` has it already; write the sample request.

    ``address`` goes into the command as ``--address`` (for a mesh not on localhost:8033).
    """
    images, labels = load_digits(return_X_y=True)
    images = images.astype(np.float32)
    model_file = models_root / MODEL_PATH
    if not model_file.exists():
        _write_atomically(model_file, lambda tmp: joblib.dump(_train(images, labels), tmp))
    sample = models_root / SAMPLE_PATH
    body = {
        "inputs": [
            {
                "name": "predict",
                "shape": [2, images.shape[1]],
                "datatype": "FP32",
                # V2 JSON data is flat, row-major: the first two images (a 0 and a 1)
                "data": images[:2].reshape(-1).tolist(),
            }
        ]
    }
    _write_atomically(sample, lambda tmp: tmp.write_text(json.dumps(body)))
    command = f"{_cli_command()} predict {MODEL_ID} --input {shlex.quote(_shown(sample))}"
    if address:
        command += f" --address {shlex.quote(address)}"
    return Demo(MODEL_ID, MODEL_TYPE, MODEL_PATH, sample, command)


def _train(images: np.ndarray, labels: np.ndarray) -> LogisticRegression:
    # a loose tolerance fits in well under a second and still scores > 99 % on its data
    return LogisticRegression(max_iter=1000, tol=1e-2).fit(images, labels)


def _write_atomically(target: Path, write: Callable[[Path], object]) -> None:
    """Write via a temporary file and a rename: a crash never leaves half a model behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def _cli_command() -> str:
    """How to run ``modelmesh``: the script installed beside the running interpreter (the
    repo's .venv/bin/modelmesh), else the one on PATH, else ``python -m``."""
    beside = Path(sys.executable).parent / "modelmesh"
    if beside.is_file():
        return shlex.quote(_shown(beside))
    on_path = shutil.which("modelmesh")
    if on_path:
        return shlex.quote(on_path)
    return f"{shlex.quote(sys.executable)} -m modelmesh.mesh.cli.main"


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it: shorter to paste."""
    absolute = path.absolute()
    try:
        relative = absolute.relative_to(Path.cwd())
    except ValueError:
        return str(absolute)
    # a bare name would be looked up on PATH by the shell
    return str(relative) if relative.parent != Path(".") else f"./{relative}"
