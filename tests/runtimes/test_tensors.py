"""The V2 tensor codec: every datatype both ways, raw and typed, and its errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.runtimes import tensors
from modelmesh.runtimes.tensors import (
    DATATYPES,
    TensorError,
    build_infer_request,
    datatype_of,
    fill_response,
    request_arrays,
    response_arrays,
)


def _sample(datatype: str) -> np.ndarray:
    if datatype == "BYTES":
        return np.array([[b"", b"a"], [b"\x00\xff", "h\u00e9llo".encode()]], dtype=object)
    if datatype == "BOOL":
        return np.array([[True, False], [False, True]])
    dtype = DATATYPES[datatype]
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    # the extremes of each type catch truncation and sign mistakes on the wire
    return np.array([[info.min, info.max], [0, 1]], dtype=dtype)


def test_datatypes_cover_the_v2_protocol() -> None:
    assert set(DATATYPES) == {
        "BOOL",
        "UINT8",
        "UINT16",
        "UINT32",
        "UINT64",
        "INT8",
        "INT16",
        "INT32",
        "INT64",
        "FP16",
        "FP32",
        "FP64",
        "BYTES",
    }


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
def test_request_round_trip(datatype: str, raw: bool) -> None:
    array = _sample(datatype)
    req = build_infer_request("m", {"x": array}, raw=raw, request_id="r1")
    wire = v2.ModelInferRequest.FromString(req.SerializeToString())
    assert (wire.model_name, wire.id) == ("m", "r1")
    assert wire.inputs[0].datatype == datatype
    assert list(wire.inputs[0].shape) == [2, 2]
    assert bool(wire.raw_input_contents) is raw
    decoded = request_arrays(wire)["x"]
    assert decoded.dtype == DATATYPES[datatype]
    np.testing.assert_array_equal(decoded, array)


@pytest.mark.parametrize("datatype", sorted(DATATYPES))
@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
def test_response_round_trip(datatype: str, raw: bool) -> None:
    array = _sample(datatype)
    resp = v2.ModelInferResponse(model_name="m")
    fill_response(resp, {"y": array, "z": np.arange(3, dtype=np.int64)}, raw=raw)
    wire = v2.ModelInferResponse.FromString(resp.SerializeToString())
    decoded = response_arrays(wire)
    assert list(decoded) == ["y", "z"]
    np.testing.assert_array_equal(decoded["y"], array)
    np.testing.assert_array_equal(decoded["z"], [0, 1, 2])


def test_raw_is_little_endian_and_bytes_are_length_prefixed() -> None:
    req = build_infer_request(
        "m",
        {
            "i": np.array([1, 2], dtype=">i4"),  # big-endian in memory, little on the wire
            "s": np.array(["ab", "c"]),
        },
    )
    assert req.raw_input_contents[0] == struct.pack("<2i", 1, 2)
    assert req.raw_input_contents[1] == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"
    assert [t.datatype for t in req.inputs] == ["INT32", "BYTES"]


def test_typed_contents_use_the_v2_fields() -> None:
    req = build_infer_request(
        "m",
        {"a": np.array([1], np.int8), "b": np.array([2], np.uint16), "c": np.array([1.5], "f2")},
        raw=False,
    )
    assert list(req.inputs[0].contents.int_contents) == [1]
    assert list(req.inputs[1].contents.uint_contents) == [2]
    assert list(req.inputs[2].contents.fp32_contents) == [1.5]


def test_inputs_keep_their_order_and_scalars_work() -> None:
    inputs = {"b": np.array(2.5), "a": np.zeros((0, 3), np.float32)}
    decoded = request_arrays(build_infer_request("m", inputs))
    assert list(decoded) == ["b", "a"]
    assert decoded["b"].shape == ()
    assert decoded["a"].shape == (0, 3)


def test_datatype_of_refuses_types_v2_cannot_carry() -> None:
    with pytest.raises(TensorError, match="complex128"):
        datatype_of(np.zeros(1, dtype=complex))


def _request(datatype: str, shape: list[int], **contents: list) -> v2.ModelInferRequest:
    req = v2.ModelInferRequest(model_name="m")
    req.inputs.add(name="x", datatype=datatype, shape=shape, contents=contents or None)
    return req


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (_request("FP32", [2, 2], fp32_contents=[1.0, 2.0, 3.0]), r"'x' has 3 elements.*needs 4"),
        (_request("FP32", [2], fp64_contents=[1.0, 2.0]), r"'x' has 0 elements in fp32_contents"),
        (_request("FLOAT", [1], fp32_contents=[1.0]), r"'x' has unknown datatype 'FLOAT'"),
        (_request("INT8", [1], int_contents=[300]), r"'x'.*does not fit INT8"),
        (_request("INT32", [-1, 2], int_contents=[1, 2]), r"'x' has a negative dimension"),
    ],
    ids=["count", "wrong-field", "datatype", "overflow", "negative"],
)
def test_bad_typed_inputs_are_named(req: v2.ModelInferRequest, message: str) -> None:
    with pytest.raises(TensorError, match=message):
        request_arrays(req)


def _raw_request(datatype: str, shape: list[int], *raws: bytes) -> v2.ModelInferRequest:
    req = _request(datatype, shape)
    req.raw_input_contents.extend(raws)
    return req


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (_raw_request("FP32", [1, 4], b"\x00" * 12), r"'x' has 12 raw bytes.*= 16"),
        (_raw_request("FP32", [1], b"\x00" * 4, b"\x00" * 4), r"2 raw contents for 1 inputs"),
        (_raw_request("BYTES", [2], b"\x01\x00\x00\x00a"), r"'x'.*end after 1 elements"),
        (_raw_request("BYTES", [1], b"\x09\x00\x00\x00a"), r"'x'.*claims 9 bytes, only 1"),
        (_raw_request("BYTES", [1], b"\x01\x00\x00\x00ab"), r"'x': 1 bytes left over"),
    ],
    ids=["size", "blob-count", "short", "long-element", "left-over"],
)
def test_bad_raw_inputs_are_named(req: v2.ModelInferRequest, message: str) -> None:
    with pytest.raises(TensorError, match=message):
        request_arrays(req)


def test_duplicate_input_names_are_refused() -> None:
    req = _request("FP32", [1], fp32_contents=[1.0])
    req.inputs.add(name="x", datatype="FP32", shape=[1]).contents.fp32_contents.append(2.0)
    with pytest.raises(TensorError, match="'x' is given twice"):
        request_arrays(req)


def test_bytes_tensors_refuse_other_objects() -> None:
    with pytest.raises(TensorError, match="holds a int"):
        build_infer_request("m", {"x": np.array([1, b"a"], dtype=object)})


def test_public_surface() -> None:
    assert sorted(tensors.__all__) == [
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
    assert issubclass(TensorError, ValueError)
