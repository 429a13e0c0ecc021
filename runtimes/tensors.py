"""KServe V2 tensors: numpy arrays to and from ``ModelInferRequest``/``ModelInferResponse``.

Used by the built-in runtime (``runtimes/python``), the CLI and the REST front door.

Two wire forms exist for every tensor:

- typed: ``InferTensorContents`` holds the elements in the repeated field of its datatype
  (INT8/16/32 in ``int_contents``, UINT8/16/32 in ``uint_contents``, ...). The V2 protocol has
  no FP16 field; FP16 travels in ``fp32_contents`` here (lossless widening).
- raw: ``raw_input_contents``/``raw_output_contents`` hold one bytes blob per tensor, in
  tensor order, little-endian, row-major; a BYTES tensor is a 4-byte little-endian length
  followed by the element's bytes, for each element.

Every inconsistency (unknown datatype, element count not matching the shape, raw blobs not
matching the inputs) raises ``TensorError`` naming the tensor.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from modelmesh.protos import grpc_predict_v2_pb2 as v2

__all__ = [
    "DATATYPES",
    "TensorError",
    "array_from_raw",
    "build_infer_request",
    "datatype_of",
    "fill_response",
    "raw_bytes",
    "request_arrays",
    "response_arrays",
]


class TensorError(ValueError):
    """A tensor on the wire does not agree with its own datatype or shape."""


DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}

# numpy dtype -> V2 name; str and bytes arrays are BYTES too (see ``datatype_of``).
_NAMES = {dtype: name for name, dtype in DATATYPES.items()}

# V2 name -> the InferTensorContents field that carries it in typed form.
_TYPED_FIELDS = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP16": "fp32_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

# Raw blobs are little-endian whatever the host is.
_WIRE_DTYPES = {name: dtype.newbyteorder("<") for name, dtype in DATATYPES.items()}

_LENGTH = struct.Struct("<I")


def datatype_of(array: np.ndarray) -> str:
    """The V2 datatype name of ``array``; str, bytes and object arrays are BYTES."""
    kind = array.dtype.kind
    if kind in "USO":
        return "BYTES"
    name = _NAMES.get(array.dtype.newbyteorder("="))
    if name is None:
        raise TensorError(f"numpy dtype {array.dtype} has no KServe V2 datatype")
    return name


# ---------------------------------------------------------------- decoding


def request_arrays(req: v2.ModelInferRequest) -> dict[str, np.ndarray]:
    """The request's input tensors as arrays, in input order."""
    return _decode_all("input", req.inputs, req.raw_input_contents)


def response_arrays(resp: v2.ModelInferResponse) -> dict[str, np.ndarray]:
    """The response's output tensors as arrays, in output order."""
    return _decode_all("output", resp.outputs, resp.raw_output_contents)


def array_from_raw(
    kind: str, name: str, datatype: str, shape: Sequence[int], raw: bytes
) -> np.ndarray:
    """One tensor from its raw bytes (also the V2 HTTP binary data extension's form)."""
    if datatype not in DATATYPES:
        raise TensorError(
            f"{kind} {name!r} has unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}"
        )
    _check_dims(kind, name, tuple(shape))
    return _from_raw(kind, name, datatype, raw, math.prod(shape)).reshape(tuple(shape))


def _decode_all(kind: str, tensors: Sequence[Any], raws: Sequence[bytes]) -> dict[str, np.ndarray]:
    if raws and len(raws) != len(tensors):
        raise TensorError(
            f"{len(raws)} raw contents for {len(tensors)} {kind}s; "
            f"raw contents must be given for every {kind} or for none"
        )
    arrays: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(tensors):
        name = tensor.name
        if name in arrays:
            raise TensorError(f"{kind} {name!r} is given twice")
        shape = _shape(kind, tensor)
        datatype = tensor.datatype
        if datatype not in DATATYPES:
            raise TensorError(
                f"{kind} {name!r} has unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}"
            )
        if raws:
            flat = _from_raw(kind, name, datatype, raws[index], math.prod(shape))
        else:
            flat = _from_typed(kind, name, datatype, tensor.contents, math.prod(shape))
        arrays[name] = flat.reshape(shape)
    return arrays


def _shape(kind: str, tensor: Any) -> tuple[int, ...]:
    shape = tuple(tensor.shape)
    _check_dims(kind, tensor.name, shape)
    return shape


# no array has more elements than this, even with a zero dimension (numpy refuses one
# whose other dimensions multiply past its index type)
_MAX_ELEMENTS = 2**48


def _check_dims(kind: str, name: str, shape: tuple[int, ...]) -> None:
    if any(dim < 0 for dim in shape):
        raise TensorError(f"{kind} {name!r} has a negative dimension in shape {list(shape)}")
    if math.prod(dim for dim in shape if dim) > _MAX_ELEMENTS:
        raise TensorError(f"{kind} {name!r} has shape {list(shape)}, too large for any array")


def _from_raw(kind: str, name: str, datatype: str, raw: bytes, count: int) -> np.ndarray:
    if datatype == "BYTES":
        return _unpack_bytes(kind, name, raw, count)
    wire = _WIRE_DTYPES[datatype]
    if len(raw) != count * wire.itemsize:
        raise TensorError(
            f"{kind} {name!r} has {len(raw)} raw bytes; its shape needs {count} {datatype} "
            f"elements of {wire.itemsize} bytes = {count * wire.itemsize}"
        )
    return np.frombuffer(raw, dtype=wire)


def _unpack_bytes(kind: str, name: str, raw: bytes, count: int) -> np.ndarray:
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(raw):
            raise TensorError(
                f"{kind} {name!r}: raw BYTES contents end after {i} elements, "
                f"its shape needs {count}"
            )
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise TensorError(
                f"{kind} {name!r}: raw BYTES element {i} claims {length} bytes, "
                f"only {len(raw) - offset} remain"
            )
        out[i] = raw[offset : offset + length]
        offset += length
    if offset != len(raw):
        raise TensorError(
            f"{kind} {name!r}: {len(raw) - offset} bytes left over after the {count} "
            "BYTES elements its shape needs"
        )
    return out


def _from_typed(kind: str, name: str, datatype: str, contents: Any, count: int) -> np.ndarray:
    field = _TYPED_FIELDS[datatype]
    values = getattr(contents, field)
    if len(values) != count:
        raise TensorError(
            f"{kind} {name!r} has {len(values)} elements in {field}; "
            f"its {datatype} shape needs {count}"
        )
    if datatype == "BYTES":
        out = np.empty(count, dtype=object)
        out[:] = list(values)
        return out
    try:
        return np.fromiter(values, dtype=DATATYPES[datatype], count=count)
    except OverflowError as exc:
        raise TensorError(f"{kind} {name!r}: a value in {field} does not fit {datatype}") from exc


# ---------------------------------------------------------------- encoding


def build_infer_request(
    model_name: str,
    inputs: Mapping[str, np.ndarray],
    *,
    raw: bool = True,
    request_id: str = "",
) -> v2.ModelInferRequest:
    """A ModelInferRequest carrying ``inputs``, raw (the default) or in typed contents."""
    req = v2.ModelInferRequest(model_name=model_name, id=request_id)
    _encode_all(req.inputs, req.raw_input_contents, inputs, raw)
    return req


def fill_response(
    resp: v2.ModelInferResponse, outputs: Mapping[str, np.ndarray], *, raw: bool
) -> None:
    """Append ``outputs`` to ``resp``, raw (``raw_output_contents``) or in typed contents."""
    _encode_all(resp.outputs, resp.raw_output_contents, outputs, raw)


def _encode_all(tensors: Any, raws: Any, arrays: Mapping[str, np.ndarray], raw: bool) -> None:
    for name, value in arrays.items():
        array = np.asarray(value)
        datatype = datatype_of(array)
        tensor = tensors.add(name=name, datatype=datatype, shape=array.shape)
        if raw:
            raws.append(_to_raw(datatype, array))
        else:
            _to_typed(datatype, array, tensor.contents)


def raw_bytes(array: np.ndarray) -> bytes:
    """``array`` in the raw form (little-endian, row-major; BYTES length-prefixed)."""
    return _to_raw(datatype_of(array), array)


def _to_raw(datatype: str, array: np.ndarray) -> bytes:
    if datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(item)) + item for item in _as_bytes(array.reshape(-1)))
    return array.astype(_WIRE_DTYPES[datatype], copy=False).tobytes(order="C")


def _to_typed(datatype: str, array: np.ndarray, contents: Any) -> None:
    values = getattr(contents, _TYPED_FIELDS[datatype])
    if datatype == "BYTES":
        values.extend(_as_bytes(array.reshape(-1)))
    else:
        values.extend(array.reshape(-1).tolist())


def _as_bytes(items: Iterable[Any]) -> list[bytes]:
    out = []
    for item in items:
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, str):
            out.append(item.encode())
        else:
            raise TensorError(f"a BYTES tensor holds a {type(item).__name__}, not bytes or str")
    return out
