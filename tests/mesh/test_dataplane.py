"""Reading and injecting model ids in serialized requests."""

from __future__ import annotations

import pytest

from modelmesh.mesh.dataplane import MalformedRequest, extract_id, inject_id
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_mesh_pb2 as mm


def _request(name: str) -> bytes:
    request = v2.ModelInferRequest(model_name=name, id="req-1")
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 2])
    tensor.contents.fp32_contents.extend([1.0, 2.0])
    request.raw_input_contents.append(b"\x00" * 64)
    return request.SerializeToString()


def test_extracts_model_name() -> None:
    assert extract_id(_request("digits"), [1]) == "digits"
    assert extract_id(_request("ünïcode/✓"), [1]) == "ünïcode/✓"


def test_missing_or_empty_id_is_none() -> None:
    assert extract_id(_request(""), [1]) is None
    assert extract_id(b"", [1]) is None


def test_nested_path() -> None:
    # a message whose field 2 is a ModelInfo with the id in field 1 (path [2, 1])
    data = mm.RegisterModelRequest(
        modelId="x", modelInfo=mm.ModelInfo(type="t")
    ).SerializeToString()
    assert extract_id(data, [2, 1]) == "t"


@pytest.mark.parametrize("path", [[1], [2, 1]])
def test_inject_overrides_and_keeps_everything_else(path: list[int]) -> None:
    if path == [1]:
        original = _request("vmodel-name")
        injected = inject_id(original, path, "concrete__isvc-123")
        parsed = v2.ModelInferRequest.FromString(injected)
        assert parsed.model_name == "concrete__isvc-123"
        assert parsed.id == "req-1" and list(parsed.inputs[0].contents.fp32_contents) == [1, 2]
    else:
        original = mm.RegisterModelRequest(
            modelId="m", modelInfo=mm.ModelInfo(type="old", path="p")
        ).SerializeToString()
        parsed_reg = mm.RegisterModelRequest.FromString(inject_id(original, path, "new"))
        assert parsed_reg.modelInfo.type == "new" and parsed_reg.modelInfo.path == "p"
    assert extract_id(inject_id(original, path, "again"), path) == "again"


@pytest.mark.parametrize("data", [b"\x0a\x10abc", b"\xff", b"\x0b", b"\x0d\x00"])
def test_malformed_bytes_raise(data: bytes) -> None:
    with pytest.raises(MalformedRequest):
        extract_id(data, [1])
