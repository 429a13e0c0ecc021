"""What the adapters write and read without a server: MLServer's settings, Triton's
config name, error messages, sizes and the repository's entries."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from modelmesh.runtimes.adapters.base import AdapterRuntime, ModelFiles
from modelmesh.runtimes.adapters.errors import code_for_http
from modelmesh.runtimes.adapters.http_api import message_of
from modelmesh.runtimes.adapters.mlserver import MLServerAdapter, model_settings
from modelmesh.runtimes.adapters.repository import Repository
from modelmesh.runtimes.adapters.settings import AdapterSettings
from modelmesh.runtimes.adapters.torchserve import find_archive
from modelmesh.runtimes.adapters.triton import with_model_name
from modelmesh.runtimes.python.errors import InvalidRequest, ModelFileMissing


def _files(path: Path, model_type: str = "sklearn") -> ModelFiles:
    return ModelFiles("m-1", model_type, path, {})


def test_mlserver_settings_generated_for_a_known_type(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(b"x")
    assert model_settings(_files(model)) == {
        "name": "m-1",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model)},
    }
    with pytest.raises(InvalidRequest, match="no known implementation for model type 'onnx'"):
        model_settings(_files(model, "onnx"))


def test_mlserver_settings_of_the_model_keep_all_but_name_and_uri(tmp_path: Path) -> None:
    own = {"name": "theirs", "implementation": "my.Runtime", "parameters": {"version": "2"}}
    (tmp_path / "model-settings.json").write_text(json.dumps(own))
    settings = model_settings(_files(tmp_path, "rt:custom"))
    assert settings["name"] == "m-1"
    assert settings["implementation"] == "my.Runtime"
    # no uri: the model's directory, where MLServer looks for its well-known files
    assert settings["parameters"] == {"version": "2", "uri": str(tmp_path.resolve())}
    (tmp_path / "model-settings.json").write_text(json.dumps({"parameters": {"uri": "../x"}}))
    with pytest.raises(InvalidRequest, match="leaves the model's directory"):
        model_settings(_files(tmp_path))
    (tmp_path / "model-settings.json").write_text("{broken")
    with pytest.raises(InvalidRequest, match="is not JSON"):
        model_settings(_files(tmp_path))


def test_triton_config_gets_the_model_id_as_its_top_level_name() -> None:
    config = """# name: "in a comment" stays
name: "lin"
backend: "python"
input [ { name: "x" data_type: TYPE_FP32 dims: [ -1, 64 ] } ]
output [
  {
    name: 'label'   # nested names stay
    data_type: TYPE_INT64
  }
]
parameters { key: "name" value: { string_value: "name: \\"x\\"" } }
"""
    rewritten = with_model_name(config, "lin__isvc-1")
    assert rewritten.startswith('name: "lin__isvc-1"\n')
    assert 'name: "lin"' not in rewritten
    for kept in ('# name: "in a comment" stays', 'name: "x"', "name: 'label'", 'key: "name"'):
        assert kept in rewritten
    assert with_model_name('backend: "onnxruntime"', "m") == 'name: "m"\nbackend: "onnxruntime"'


@pytest.mark.parametrize(
    ("data", "text", "message"),
    [
        ({"error": "Model m not found"}, "", "Model m not found"),
        ({"code": 404, "type": "X", "message": "Model not found: m"}, "", "Model not found: m"),
        ({"detail": [{"msg": "bad"}]}, "", '[{"msg": "bad"}]'),
        (None, "Traceback (most recent call last):\n  File x\nKeyError: 110\n", "KeyError: 110"),
        (None, "Internal Server Error", "Internal Server Error"),
    ],
)
def test_server_messages(data: object, text: str, message: str) -> None:
    assert message_of(data, text) == message


def test_http_status_codes() -> None:
    assert code_for_http(400) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_for_http(404) == grpc.StatusCode.NOT_FOUND
    assert code_for_http(500) == grpc.StatusCode.INTERNAL
    assert code_for_http(507) == grpc.StatusCode.INTERNAL
    assert code_for_http(503) == grpc.StatusCode.UNAVAILABLE
    assert code_for_http(418) == grpc.StatusCode.FAILED_PRECONDITION


def test_repository_entries(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    assert repository.entry("digits__isvc-1f").name == "digits__isvc-1f"
    odd = repository.entry("team/model:1")
    assert odd.parent == repository.root and odd.name.startswith("id-")
    assert repository.entry("team/model:1") == odd  # stable
    assert repository.entry("..") != repository.root.parent
    with pytest.raises(InvalidRequest, match="cannot be a directory name"):
        repository.entry("team/model", exact=True)
    fresh = repository.fresh_dir("m")
    (fresh / "file").write_text("x")
    assert list(repository.fresh_dir("m").iterdir()) == []


def test_torchserve_finds_the_one_archive(tmp_path: Path) -> None:
    (tmp_path / "a.mar").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    assert find_archive(tmp_path) == tmp_path / "a.mar"
    assert find_archive(tmp_path / "a.mar") == tmp_path / "a.mar"
    (tmp_path / "b.mar").write_bytes(b"x")
    with pytest.raises(ModelFileMissing, match=r"found a\.mar, b\.mar"):
        find_archive(tmp_path)


def test_sizes_from_disk_or_key_or_default(tmp_path: Path) -> None:
    settings = AdapterSettings.from_env(
        {"ROOT_MODEL_DIR": str(tmp_path), "DEFAULT_MODELSIZE": "777"}, "mlserver"
    )
    runtime = AdapterRuntime(MLServerAdapter(settings), settings)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a").write_bytes(b"x" * 1000)
    (folder / "b").write_bytes(b"x" * 600)
    assert runtime.predict_size("m", "sklearn", "m", "") == 2000
    # upstream's puller writes the bytes it pulled into the key
    assert runtime.predict_size("m", "sklearn", "m", '{"disk_size_bytes": 4000}') == 5000
    (tmp_path / "empty").mkdir()
    assert runtime.predict_size("e", "sklearn", "empty", "") == 777
    with pytest.raises(ModelFileMissing):
        runtime.predict_size("x", "sklearn", "nowhere", "")
