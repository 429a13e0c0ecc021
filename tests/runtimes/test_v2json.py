"""V2 JSON bodies to tensors and messages and back, with the binary data extension."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.runtimes.tensors import fill_response, request_arrays, response_arrays
from modelmesh.runtimes.v2json import (
    RequestedOutput,
    V2JsonError,
    infer_request,
    parse_infer_body,
    response_json,
)


def _bytes_blob(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def test_a_full_body_becomes_the_message_a_runtime_decodes() -> None:
    words = _bytes_blob("é".encode(), b"")
    body = {
        "id": "r1",
        "parameters": {"mode": "fast", "n": 3, "strict": True, "binary_data_output": True},
        "inputs": [
            {"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]},
            {"name": "t", "shape": [1], "datatype": "BYTES", "data": ["héllo"]},
            {
                "name": "raw",
                "shape": [2],
                "datatype": "INT16",
                "parameters": {"binary_data_size": 4, "unit": "cm"},
            },
            {
                "name": "w",
                "shape": [2],
                "datatype": "BYTES",
                "parameters": {"binary_data_size": len(words)},
            },
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True, "top_k": 2}}, {"name": "z"}],
    }
    binary = np.array([-1, 7], "<i2").tobytes() + words
    parsed = parse_infer_body(body, binary)
    assert parsed.binary_outputs is True
    assert parsed.outputs == [RequestedOutput("y", True, {"top_k": 2}), RequestedOutput("z")]
    request = infer_request("m", "2", parsed)
    assert (request.model_name, request.model_version, request.id) == ("m", "2", "r1")
    assert len(request.raw_input_contents) == 4  # every input raw, the compact form
    params = request.parameters
    assert (params["mode"].string_param, params["n"].int64_param) == ("fast", 3)
    assert params["strict"].bool_param is True
    assert "binary_data_output" not in params  # the extension's own, not the model's
    assert dict(request.inputs[2].parameters)["unit"].string_param == "cm"
    assert "binary_data_size" not in request.inputs[2].parameters
    assert [(o.name, dict(o.parameters)) for o in request.outputs][1] == ("z", {})
    assert request.outputs[0].parameters["top_k"].int64_param == 2
    assert "binary_data" not in request.outputs[0].parameters

    arrays = request_arrays(v2.ModelInferRequest.FromString(request.SerializeToString()))
    np.testing.assert_array_equal(arrays["x"], [[1, 2], [3, 4]])
    assert arrays["x"].dtype == np.float32
    assert arrays["t"].tolist() == ["héllo".encode()]
    assert arrays["raw"].tolist() == [-1, 7] and arrays["raw"].dtype == np.int16
    assert arrays["w"].tolist() == ["é".encode(), b""]


def test_response_json_with_binary_outputs() -> None:
    response = v2.ModelInferResponse(model_name="m__1", model_version="3", id="r1")
    response.parameters["took"].int64_param = 5
    fill_response(
        response,
        {"y": np.array([[1.5, 2.5]]), "label": np.array([b"cat"], dtype=object)},
        raw=True,
    )
    response.outputs[1].parameters["note"].string_param = "ok"
    arrays = response_arrays(response)
    doc = response_json(response, arrays, binary={"y": 16})
    assert json.loads(json.dumps(doc)) == {
        "model_name": "m__1",
        "model_version": "3",
        "id": "r1",
        "parameters": {"took": 5},
        "outputs": [
            {
                "name": "y",
                "datatype": "FP64",
                "shape": [1, 2],
                "parameters": {"binary_data_size": 16},
            },
            {
                "name": "label",
                "datatype": "BYTES",
                "shape": [1],
                "parameters": {"note": "ok"},
                "data": ["cat"],
            },
        ],
    }


def _input(**fields: object) -> dict[str, object]:
    return {"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]} | fields


@pytest.mark.parametrize(
    ("body", "binary", "message"),
    [
        ([1, 2], b"", "a V2 request body is a JSON object, not a JSON list"),
        ({"inputs": [_input()], "id": 7}, b"", '"id" must be a string'),
        ({"inputs": [_input()], "parameters": {"p": 1.5}}, b"", "parameters.p must be a boolean"),
        ({"inputs": [_input()], "parameters": []}, b"", "parameters must be an object"),
        (
            {"inputs": [_input()], "parameters": {"binary_data_output": "yes"}},
            b"",
            "binary_data_output must be true or false",
        ),
        (
            {"inputs": [_input()], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]},
            b"",
            r"outputs\[0\].parameters.binary_data must be true or false",
        ),
        (
            {"inputs": [_input(parameters={"binary_data_size": -1})]},
            b"",
            "binary_data_size must be a non-negative integer",
        ),
        (
            {"inputs": [_input(parameters={"binary_data_size": 8})]},
            b"\0" * 4,
            "only 4 bytes of binary data are left",
        ),
        (
            {"inputs": [_input(parameters={"binary_data_size": 4})]},
            b"\0" * 4,
            r"inputs\[0\]: input 'x' has 4 raw bytes; its shape needs 2 FP32 elements",
        ),
        ({"inputs": [_input()]}, b"\0", "1 bytes of binary data follow the JSON that no input"),
        (
            {"inputs": [_input(datatype="BYTES", data=None, parameters={"binary_data_size": 3})]},
            b"\0\0\0",
            "raw BYTES contents end after 0 elements",
        ),
    ],
)
def test_bad_bodies_say_where(body: object, binary: bytes, message: str) -> None:
    with pytest.raises(V2JsonError, match=message):
        parse_infer_body(body, binary)


def test_public_surface() -> None:
    from modelmesh.runtimes import v2json

    assert sorted(v2json.__all__) == [
        "InferBody",
        "RequestedOutput",
        "V2JsonError",
        "infer_request",
        "parse_infer_body",
        "response_json",
    ]
