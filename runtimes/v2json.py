"""KServe V2 HTTP/JSON bodies to and from numpy arrays and the V2 protobuf messages.

Used by the mesh's REST front door (``mesh/api/rest.py``) and by the CLI's ``predict
--input`` (``mesh/cli/inputs.py``); the tensors themselves go through ``tensors.py``.

A request body is ``{"id", "parameters", "inputs": [{"name", "shape", "datatype",
"parameters", "data"}], "outputs": [{"name", "parameters"}]}``; ``data`` is flat or nested,
BYTES elements are strings. With the binary data extension an input carries
``parameters.binary_data_size`` instead of ``data`` and its bytes (the raw form: little-endian,
row-major, BYTES length-prefixed) follow the JSON, in input order. Outputs asked for with
``parameters.binary_data`` (or all, with the request parameter ``binary_data_output``) come
back the same way. Errors raise ``V2JsonError`` saying where (``inputs[1]: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.runtimes.tensors import (
    DATATYPES,
    TensorError,
    array_from_raw,
    build_infer_request,
)

__all__ = [
    "InferBody",
    "RequestedOutput",
    "V2JsonError",
    "infer_request",
    "parse_infer_body",
    "response_json",
]

# What an InferParameter holds (its oneof: bool, int64, string).
Param = bool | int | str

# Parameters of the binary data extension: read here, never forwarded to the model.
BINARY_DATA_SIZE = "binary_data_size"
BINARY_DATA = "binary_data"
BINARY_DATA_OUTPUT = "binary_data_output"


class V2JsonError(ValueError):
    """A V2 JSON body that does not describe tensors; the message says where."""


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    # send this output as binary data after the JSON
    binary: bool = False
    parameters: dict[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class InferBody:
    inputs: dict[str, np.ndarray]
    # outputs asked for, in order; empty means all
    outputs: list[RequestedOutput] = field(default_factory=list)
    request_id: str = ""
    parameters: dict[str, Param] = field(default_factory=dict)
    input_parameters: dict[str, dict[str, Param]] = field(default_factory=dict)
    # every output as binary data (request parameter binary_data_output)
    binary_outputs: bool = False


# ---------------------------------------------------------------- requests


def parse_infer_body(body: Any, binary: bytes = b"") -> InferBody:
    """A parsed V2 inference request body; ``binary`` is what followed its JSON, if anything."""
    if not isinstance(body, dict):
        raise V2JsonError(f"a V2 request body is a JSON object, not a JSON {type(body).__name__}")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise V2JsonError('a V2 request body needs a non-empty "inputs" list')
    request_id = body.get("id", "")
    if not isinstance(request_id, str):
        raise V2JsonError('"id" must be a string')
    parameters = _parameters(body.get("parameters", {}), "parameters")
    binary_outputs = parameters.pop(BINARY_DATA_OUTPUT, False)
    if not isinstance(binary_outputs, bool):
        raise V2JsonError(f"parameters.{BINARY_DATA_OUTPUT} must be true or false")
    tensors: dict[str, np.ndarray] = {}
    input_parameters: dict[str, dict[str, Param]] = {}
    offset = 0
    for index, spec in enumerate(inputs):
        where = f"inputs[{index}]"
        if not isinstance(spec, dict):
            raise V2JsonError(f"{where} must be an object with name, shape, datatype and data")
        name, array, params, used = _tensor(spec, where, binary, offset)
        offset += used
        if name in tensors:
            raise V2JsonError(f"{where}: input {name!r} is given twice")
        tensors[name] = array
        if params:
            input_parameters[name] = params
    if offset != len(binary):
        raise V2JsonError(
            f"{len(binary) - offset} bytes of binary data follow the JSON that no input claims "
            f"(inputs claim {offset} with {BINARY_DATA_SIZE})"
        )
    return InferBody(
        tensors,
        _outputs(body.get("outputs", [])),
        request_id,
        parameters,
        input_parameters,
        binary_outputs,
    )


def infer_request(model_name: str, model_version: str, body: InferBody) -> v2.ModelInferRequest:
    """The ModelInferRequest for ``body``; its tensors travel raw, the compact form."""
    request = build_infer_request(model_name, body.inputs, raw=True, request_id=body.request_id)
    request.model_version = model_version
    _fill_parameters(request.parameters, body.parameters)
    for tensor in request.inputs:
        _fill_parameters(tensor.parameters, body.input_parameters.get(tensor.name, {}))
    for output in body.outputs:
        _fill_parameters(request.outputs.add(name=output.name).parameters, output.parameters)
    return request


def _tensor(
    spec: dict[str, Any], where: str, binary: bytes, offset: int
) -> tuple[str, np.ndarray, dict[str, Param], int]:
    """An input's name, array, parameters to forward, and binary bytes it used."""
    params = _parameters(spec.get("parameters", {}), f"{where}.parameters")
    size = params.pop(BINARY_DATA_SIZE, None)
    required = ("name", "shape", "datatype") + (() if size is not None else ("data",))
    missing = [key for key in required if key not in spec]
    if missing:
        raise V2JsonError(f"{where} lacks {', '.join(repr(key) for key in missing)}")
    name, shape, datatype = spec["name"], spec["shape"], spec["datatype"]
    if not isinstance(name, str) or not name:
        raise V2JsonError(f'{where}: "name" must be a non-empty string')
    if not isinstance(shape, list) or not all(
        isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape
    ):
        raise V2JsonError(f'{where}: "shape" must be a list of non-negative integers')
    if datatype not in DATATYPES:
        raise V2JsonError(f"{where}: unknown datatype {datatype!r}; known: {', '.join(DATATYPES)}")
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise V2JsonError(f"{where}: {BINARY_DATA_SIZE} must be a non-negative integer")
        if offset + size > len(binary):
            raise V2JsonError(
                f"{where}: {BINARY_DATA_SIZE} is {size} but only {len(binary) - offset} bytes "
                "of binary data are left after the JSON"
            )
        try:
            array = array_from_raw("input", name, datatype, shape, binary[offset : offset + size])
        except TensorError as exc:
            raise V2JsonError(f"{where}: {exc}") from None
        return name, array, params, size
    flat = _elements(spec["data"], datatype, where)
    if flat.size != math.prod(shape):
        raise V2JsonError(f"{where}: {flat.size} values do not fit shape {shape}")
    return name, flat.reshape(shape), params, 0


def _elements(data: Any, datatype: str, where: str) -> np.ndarray:
    """``data`` (nested lists or flat) as a flat array of ``datatype``."""
    try:
        if datatype == "BYTES":
            flat = np.array(data, dtype=object).reshape(-1)
            if not all(isinstance(item, str) for item in flat):
                raise V2JsonError(f"{where}: BYTES data must be strings")
            return flat
        # numpy would turn "1.5" into a number, or 1.5 into the integer 1, without a word
        kind = np.asarray(data).dtype.kind
        if kind not in "biuf":
            raise V2JsonError(f"{where}: {datatype} data must be numbers")
        if kind == "f" and DATATYPES[datatype].kind in "iu":
            raise V2JsonError(f"{where}: {datatype} data must be integers")
        return np.asarray(data, dtype=DATATYPES[datatype]).reshape(-1)
    except (ValueError, OverflowError) as exc:
        raise V2JsonError(f"{where}: data do not fit {datatype}: {exc}") from None


def _outputs(outputs: Any) -> list[RequestedOutput]:
    if not isinstance(outputs, list) or not all(
        isinstance(out, dict) and isinstance(out.get("name"), str) for out in outputs
    ):
        raise V2JsonError('"outputs" must be a list of {"name": ...} objects')
    requested = []
    for index, out in enumerate(outputs):
        params = _parameters(out.get("parameters", {}), f"outputs[{index}].parameters")
        binary = params.pop(BINARY_DATA, False)
        if not isinstance(binary, bool):
            raise V2JsonError(f"outputs[{index}].parameters.{BINARY_DATA} must be true or false")
        requested.append(RequestedOutput(out["name"], binary, params))
    return requested


def _parameters(value: Any, where: str) -> dict[str, Param]:
    if not isinstance(value, dict):
        raise V2JsonError(f'{where} must be an object of {{"name": value}}')
    for key, item in value.items():
        if not isinstance(item, bool | int | str):
            raise V2JsonError(f"{where}.{key} must be a boolean, an integer or a string")
    return dict(value)


def _fill_parameters(target: Any, params: Mapping[str, Param]) -> None:
    for key, value in params.items():
        if isinstance(value, bool):
            target[key].bool_param = value
        elif isinstance(value, int):
            target[key].int64_param = value
        else:
            target[key].string_param = value


# ---------------------------------------------------------------- responses


def response_json(
    response: v2.ModelInferResponse,
    arrays: Mapping[str, np.ndarray],
    *,
    binary: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The V2 JSON form of ``response``: flat row-major data beside each output's shape.

    Outputs named in ``binary`` (name -> byte count) carry ``binary_data_size`` instead of
    data; the caller sends their bytes after the JSON, in output order.
    """
    binary = binary or {}
    body: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version:
        body["model_version"] = response.model_version
    if response.id:
        body["id"] = response.id
    if response.parameters:
        body["parameters"] = _parameter_values(response.parameters)
    outputs = []
    for tensor in response.outputs:
        out: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        params = _parameter_values(tensor.parameters)
        if tensor.name in binary:
            out["parameters"] = {**params, BINARY_DATA_SIZE: binary[tensor.name]}
        else:
            if params:
                out["parameters"] = params
            out["data"] = [_json_value(v) for v in arrays[tensor.name].reshape(-1).tolist()]
        outputs.append(out)
    body["outputs"] = outputs
    return body


def _parameter_values(params: Mapping[str, v2.InferParameter]) -> dict[str, Param]:
    return {
        key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
        for key, value in params.items()
    }


def _json_value(value: Any) -> Any:
    # BYTES elements are text in V2's JSON form (the binary extension carries any bytes)
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
