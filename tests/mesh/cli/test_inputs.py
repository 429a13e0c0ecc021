"""``predict --input``: every SRC form, and one clear error naming SRC for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelmesh.mesh.cli.errors import EXIT_USAGE
from modelmesh.mesh.cli.inputs import InputError, load_inputs

BODY = {
    "inputs": [
        {"name": "x", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]},
        {"name": "ids", "shape": [2], "datatype": "INT32", "data": [7, 8]},
    ],
    "outputs": [{"name": "probabilities"}],
}


def test_v2_body_as_json_text() -> None:
    inputs = load_inputs(json.dumps(BODY))
    assert list(inputs.tensors) == ["x", "ids"]
    np.testing.assert_array_equal(inputs.tensors["x"], [[1, 2, 3], [4, 5, 6]])
    assert inputs.tensors["x"].dtype == np.float32
    assert inputs.tensors["ids"].dtype == np.int32
    assert inputs.outputs == ["probabilities"]


def test_v2_body_from_json_file_with_nested_data(tmp_path: Path) -> None:
    body = {
        "inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [[1, 2], [3, 4]]}]
    }
    src = tmp_path / "request.json"
    src.write_text(json.dumps(body))
    inputs = load_inputs(str(src))
    np.testing.assert_array_equal(inputs.tensors["x"], [[1, 2], [3, 4]])
    assert inputs.tensors["x"].dtype == np.float64
    assert inputs.outputs == []


def test_v2_body_bytes_and_bool() -> None:
    body = {
        "inputs": [
            {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["héllo", "world"]},
            {"name": "mask", "shape": [1, 2], "datatype": "BOOL", "data": [True, False]},
        ]
    }
    inputs = load_inputs(json.dumps(body))
    assert inputs.tensors["text"].tolist() == ["héllo", "world"]
    assert inputs.tensors["mask"].dtype == np.bool_
    assert inputs.tensors["mask"].shape == (1, 2)


@pytest.mark.parametrize(
    ("src", "dtype", "shape"),
    [
        ("[[0.5, 1, 2], [3, 4, 5]]", np.float32, (2, 3)),
        ("[[1, 2], [3, 4]]", np.int64, (2, 2)),
        ("[1, 2, 3]", np.int64, (3,)),
        ("[true, false]", np.bool_, (2,)),
    ],
)
def test_bare_array_is_one_input_named_predict(src: str, dtype: type, shape: tuple[int]) -> None:
    inputs = load_inputs(src)
    assert list(inputs.tensors) == ["predict"]
    assert inputs.tensors["predict"].dtype == dtype
    assert inputs.tensors["predict"].shape == shape


def test_bare_array_from_json_file(tmp_path: Path) -> None:
    src = tmp_path / "rows.json"
    src.write_text("[[1.5, 2.5]]")
    np.testing.assert_array_equal(load_inputs(str(src)).tensors["predict"], [[1.5, 2.5]])


def test_npy_file_keeps_its_dtype(tmp_path: Path) -> None:
    src = tmp_path / "rows.npy"
    np.save(src, np.arange(6, dtype=np.float64).reshape(2, 3))
    array = load_inputs(str(src)).tensors["predict"]
    assert array.dtype == np.float64
    np.testing.assert_array_equal(array, np.arange(6).reshape(2, 3))


def _bad_npy(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.npy"
    if kind == "garbage":
        path.write_bytes(b"not numpy at all")
    elif kind == "npz":
        with path.open("wb") as file:
            np.savez(file, a=np.zeros(2))
    elif kind == "objects":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "complex":
        np.save(path, np.array([1 + 2j]))
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("garbage", "is not a .npy file"),
        ("npz", "is not a .npy file"),
        ("objects", "Object arrays cannot be loaded"),
        ("complex", "has no KServe V2 datatype"),
        ("missing", "cannot read input file"),
    ],
)
def test_bad_npy_files(tmp_path: Path, kind: str, message: str) -> None:
    path = _bad_npy(tmp_path, kind)
    with pytest.raises(InputError, match=message) as caught:
        load_inputs(str(path))
    assert str(path) in str(caught.value)


def test_missing_and_unreadable_json_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read input file '.*nope\.json': No such file"):
        load_inputs(str(tmp_path / "nope.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{'inputs': []}")
    with pytest.raises(InputError, match=r"input file '.*broken\.json' is not valid JSON"):
        load_inputs(str(broken))


def _tensor(**fields: object) -> str:
    spec = {"name": "x", "shape": [2], "datatype": "FP32", "data": [1, 2]} | fields
    return json.dumps({"inputs": [spec]})


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("[[1, 2", r"--input is not valid JSON \(nor a path ending in \.json or \.npy\)"),
        ("42", r"expected a V2 request body .* not a JSON int"),
        ("[]", "the array is empty"),
        ("[[1, 2], [3]]", "the rows of the array have different lengths"),
        ('["a", "b"]', "a bare array must hold only numbers"),
        ('{"instances": [[1, 2]]}', 'a V2 request body needs a non-empty "inputs" list'),
        ('{"inputs": [1]}', r"inputs\[0\] must be an object"),
        ('{"inputs": [{"name": "x"}]}', r"inputs\[0\] lacks 'shape', 'datatype', 'data'"),
        (_tensor(name=""), '"name" must be a non-empty string'),
        (_tensor(shape=[-1]), '"shape" must be a list of non-negative integers'),
        (_tensor(shape="2"), '"shape" must be a list of non-negative integers'),
        (_tensor(datatype="FLOAT"), "unknown datatype 'FLOAT'; known: BOOL"),
        (_tensor(shape=[3]), r"2 values do not fit shape \[3\]"),
        (_tensor(data=["1", "2"]), "FP32 data must be numbers"),
        (_tensor(datatype="INT64", data=[1.5, 2]), "INT64 data must be integers"),
        (_tensor(datatype="UINT8", data=[-1, 2]), "data do not fit UINT8"),
        (_tensor(data=[[1], [2, 3]]), "data do not fit FP32"),
        (_tensor(datatype="BYTES", data=[1, 2]), "BYTES data must be strings"),
        (
            json.dumps({"inputs": [json.loads(_tensor())["inputs"][0]] * 2}),
            r"inputs\[1\]: input 'x' is given twice",
        ),
        (
            json.dumps({"inputs": json.loads(_tensor())["inputs"], "outputs": ["y"]}),
            '"outputs" must be a list of {"name": ...} objects',
        ),
    ],
)
def test_bad_json_inputs(src: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        load_inputs(src)
    assert str(caught.value).startswith("--input")
    assert caught.value.exit_code == EXIT_USAGE
