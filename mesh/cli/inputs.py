"""What ``predict --input SRC`` sends: SRC parsed into named arrays.

SRC is JSON text, a path ending in ``.json``, or a path ending in ``.npy``. The JSON is
either a KServe V2 request body (``{"inputs": [{"name", "shape", "datatype", "data"}]}``,
data flat or nested; an optional ``"outputs": [{"name"}]``) or a bare array of numbers,
sent as one input named ``predict``: FP32 when it holds floats, INT64 when integers.
A ``.npy`` file is one input named ``predict`` with the file's own dtype.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelmesh.mesh.cli.errors import UsageError
from modelmesh.runtimes.tensors import DATATYPES, TensorError, datatype_of

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
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InputError(f'{origin}: a V2 request body needs a non-empty "inputs" list')
    tensors: dict[str, np.ndarray] = {}
    for index, spec in enumerate(inputs):
        where = f"{origin}: inputs[{index}]"
        if not isinstance(spec, dict):
            raise InputError(f"{where} must be an object with name, shape, datatype and data")
        name, array = _tensor(spec, where)
        if name in tensors:
            raise InputError(f"{where}: input {name!r} is given twice")
        tensors[name] = array
    return InferInputs(tensors, _output_names(body.get("outputs", []), origin))


def _tensor(spec: dict[str, Any], where: str) -> tuple[str, np.ndarray]:
    missing = [key for key in ("name", "shape", "datatype", "data") if key not in spec]
    if missing:
        raise InputError(f"{where} lacks {', '.join(repr(key) for key in missing)}")
    name, shape, datatype, data = spec["name"], spec["shape"], spec["datatype"], spec["data"]
    if not isinstance(name, str) or not name:
        raise InputError(f'{where}: "name" must be a non-empty string')
    if not isinstance(shape, list) or not all(
        isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape
    ):
        raise InputError(f'{where}: "shape" must be a list of non-negative integers')
    if datatype not in DATATYPES:
        raise InputError(f"{where}: unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}")
    flat = _elements(data, datatype, where)
    if flat.size != math.prod(shape):
        raise InputError(f"{where}: {flat.size} values do not fit shape {shape}")
    return name, flat.reshape(shape)


def _elements(data: Any, datatype: str, where: str) -> np.ndarray:
    """``data`` (nested lists or flat) as a flat array of ``datatype``."""
    try:
        if datatype == "BYTES":
            flat = np.array(data, dtype=object).reshape(-1)
            if not all(isinstance(item, str) for item in flat):
                raise InputError(f"{where}: BYTES data must be strings")
            return flat
        # numpy would turn "1.5" into a number, or 1.5 into the integer 1, without a word
        kind = np.asarray(data).dtype.kind
        if kind not in "biuf":
            raise InputError(f"{where}: {datatype} data must be numbers")
        if kind == "f" and DATATYPES[datatype].kind in "iu":
            raise InputError(f"{where}: {datatype} data must be integers")
        return np.asarray(data, dtype=DATATYPES[datatype]).reshape(-1)
    except (ValueError, OverflowError) as exc:
        raise InputError(f"{where}: data do not fit {datatype}: {exc}") from None


def _output_names(outputs: Any, origin: str) -> list[str]:
    if not isinstance(outputs, list) or not all(
        isinstance(out, dict) and isinstance(out.get("name"), str) for out in outputs
    ):
        raise InputError(f'{origin}: "outputs" must be a list of {{"name": ...}} objects')
    return [out["name"] for out in outputs]
