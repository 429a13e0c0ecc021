"""What ``predict --input SRC`` sends: SRC parsed into named arrays.

SRC is JSON text, a path ending in ``.json``, or a path ending in ``.npy``. The JSON is
either a KServe V2 request body (``{"inputs": [{"name", "shape", "datatype", "data"}]}``,
data flat or nested; an optional ``"outputs": [{"name"}]``) or a bare array of numbers,
sent as one input named ``predict``: FP32 when it holds floats, INT64 when integers.
A ``.npy`` file is one input named ``predict`` with the file's own dtype.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelmesh.mesh.cli.errors import UsageError
from modelmesh.runtimes.tensors import TensorError, datatype_of
from modelmesh.runtimes.v2json import V2JsonError, parse_infer_body

# The input name of a bare array or a .npy file.
DEFAULT_INPUT = "predict"
_NPY_MAGIC = b"\x93NUMPY"


class InputError(UsageError):
    """SRC cannot be read or does not describe tensors; the message names SRC."""


@dataclass(frozen=True)
class InferInputs:
    tensors: dict[str, np.ndarray]
    # output names the body asked for; empty means all
    outputs: list[str] = field(default_factory=list)


def load_inputs(src: str) -> InferInputs:
    path = Path(src)
    if path.suffix == ".npy":
        return _from_npy(path)
    if path.suffix == ".json":
        origin = f"input file {src!r}"
        text = _read(path, origin).decode("utf-8", errors="replace")
    else:
        origin, text = "--input", src
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = "" if path.suffix else " (nor a path ending in .json or .npy)"
        raise InputError(f"{origin} is not valid JSON{hint}: {exc}") from None
    return parse_json(value, origin)


def parse_json(value: Any, origin: str) -> InferInputs:
    """A V2 request body or a bare array of numbers; ``origin`` names it in errors."""
    if isinstance(value, dict):
        return _from_body(value, origin)
    if isinstance(value, list):
        return InferInputs({DEFAULT_INPUT: _bare_array(value, origin)})
    raise InputError(
        f'{origin}: expected a V2 request body {{"inputs": [...]}} or an array of numbers, '
        f"not a JSON {type(value).__name__}"
    )


def _read(path: Path, origin: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {origin}: {exc.strerror}") from None


def _from_npy(path: Path) -> InferInputs:
    origin = f"input file {str(path)!r}"
    try:
        with path.open("rb") as file:
            # checked first: np.load takes any other content for a pickle
            if file.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
                raise InputError(f"{origin} is not a .npy file (one array, numpy.save)")
            file.seek(0)
            array = np.load(file, allow_pickle=False)
    except OSError as exc:
        raise InputError(f"cannot read {origin}: {exc.strerror}") from None
    except ValueError as exc:  # object arrays, a damaged header
        raise InputError(f"{origin}: {exc}") from None
    try:
        datatype_of(array)
    except TensorError as exc:
        raise InputError(f"{origin}: {exc}") from None
    return InferInputs({DEFAULT_INPUT: array})


def _bare_array(value: list[Any], origin: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except ValueError:
        raise InputError(f"{origin}: the rows of the array have different lengths") from None
    if array.size == 0:
        raise InputError(f"{origin}: the array is empty")
    if array.dtype.kind == "f":
        return array.astype(np.float32)
    if array.dtype.kind in "iu":
        return array.astype(np.int64)
    if array.dtype.kind == "b":
        return array
    raise InputError(f"{origin}: a bare array must hold only numbers; use a V2 body for BYTES")


def _from_body(body: dict[str, Any], origin: str) -> InferInputs:
    try:
        parsed = parse_infer_body(body)
    except V2JsonError as exc:
        raise InputError(f"{origin}: {exc}") from None
    return InferInputs(parsed.inputs, [output.name for output in parsed.outputs])
