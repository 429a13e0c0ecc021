"""The command line without a mesh: parsing, exit codes, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.mesh import app
from modelmesh.mesh.cli.errors import EXIT_FAILED, EXIT_USAGE, describe_rpc_error
from modelmesh.mesh.cli.main import build_parser, main
from modelmesh.mesh.cli.predict import response_json, routing_metadata
from modelmesh.mesh.errors import Unavailable
from modelmesh.protos import grpc_predict_v2_pb2 as v2


@pytest.mark.parametrize(
    "command",
    [
        ["status", "m"],
        ["register", "m", "--type", "sklearn", "--load"],
        ["unregister", "m"],
        ["ensure-loaded", "m", "--wait"],
        ["list"],
        ["list", "--vmodels", "--prefix", "v"],
        ["vmodel", "set", "v", "--target", "m"],
        ["vmodel", "delete", "v"],
        ["vmodel", "status", "v", "--owner", "o"],
        ["predict", "m", "--input", "[[1, 2]]", "--vmodel"],
    ],
)
def test_no_mesh_listening_is_one_friendly_line(
    command: list[str], idle_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--address", idle_address, "--timeout", "5"]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"error: cannot reach the mesh at {idle_address}: is `modelmesh serve` running?\n"
    )


class _Status(grpc.RpcError):
    """A failed call as grpc raises it: code() and details()."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "details", "line"),
    [
        (
            grpc.StatusCode.NOT_FOUND,
            "model 'x' is not registered",
            "NOT_FOUND: model 'x' is not registered",
        ),
        # an UNAVAILABLE the mesh itself sent keeps its message
        (
            grpc.StatusCode.UNAVAILABLE,
            "the model runtime is not ready",
            "UNAVAILABLE: the model runtime is not ready",
        ),
        (
            grpc.StatusCode.UNAVAILABLE,
            "errors resolving nosuch.invalid:8033: Domain name not found",
            "cannot reach the mesh at a:1: is `modelmesh serve` running?",
        ),
    ],
)
def test_describe_rpc_error(code: grpc.StatusCode, details: str, line: str) -> None:
    assert describe_rpc_error(_Status(code, details), "a:1") == line


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["vmodel"],
        ["copies"],
        ["register", "m"],
        ["status", "m", "--timeout", "0"],
        ["status", "m", "--timeout", "soon"],
        ["predict", "m"],
        ["predict", "m", "--input", "[1]", "--vmodel", "--model-id"],
        ["predict", "m", "--input", "[1]", "--raw", "--typed"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == EXIT_USAGE
    assert "usage: modelmesh" in capsys.readouterr().err


def test_bad_input_file_is_a_usage_error_naming_the_file(
    tmp_path: Path, idle_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "rows.json"
    src.write_text("[[1, 2], [3]]")
    assert main(["predict", "m", "--input", str(src), "--address", idle_address]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"error: input file {str(src)!r}: the rows of the array have different lengths\n"
    )


def test_vmodel_target_path_needs_a_type(
    idle_address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["vmodel", "set", "v", "--target", "m", "--path", "p", "--address", idle_address]
    assert main(argv) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("error: --path and --key describe the target")


@pytest.mark.parametrize(
    "argv",
    [["--json", "status", "m"], ["status", "m", "--json"], ["status", "--json", "m"]],
)
def test_json_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert args.json is True
    assert args.address == "localhost:8033"


def test_predict_defaults() -> None:
    args = build_parser().parse_args(["predict", "m", "--input", "[1]", "--output", "a", "b"])
    assert (args.route, args.raw, args.output, args.timeout) == (None, True, ["a", "b"], None)
    args = build_parser().parse_args(["predict", "m", "--input", "[1]", "--model-id", "--typed"])
    assert (args.route, args.raw) == ("model", False)


def test_routing_headers() -> None:
    assert routing_metadata(None, "m") == []
    assert routing_metadata("model", "m-1") == [("mm-model-id", "m-1")]
    assert routing_metadata("vmodel", "v") == [("mm-vmodel-id", "v")]
    assert routing_metadata("vmodel", "modèle") == [("mm-vmodel-id-bin", "modèle".encode())]


def test_response_json_is_the_v2_form() -> None:
    response = v2.ModelInferResponse(model_name="m__isvc-1")
    response.outputs.add(name="label", datatype="INT64", shape=[2, 1])
    response.outputs.add(name="text", datatype="BYTES", shape=[1])
    arrays = {"label": np.array([[3], [4]]), "text": np.array([b"caf\xc3\xa9"], dtype=object)}
    assert json.loads(json.dumps(response_json(response, arrays))) == {
        "model_name": "m__isvc-1",
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [2, 1], "data": [3, 4]},
            {"name": "text", "datatype": "BYTES", "shape": [1], "data": ["café"]},
        ],
    }


@pytest.mark.parametrize(
    ("command", "variable"), [("serve", "MM_SVC_GRPC_PORT"), ("runtime", "CONTAINER_MEM_REQ_BYTES")]
)
def test_bad_server_environment_is_one_line(
    command: str, variable: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(variable, "lots")
    assert main([command]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert variable in err
    assert err.count("\n") == 1


def test_a_mesh_that_cannot_start_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def cannot_start(settings: object, *, demo: bool) -> None:
        raise Unavailable("cannot listen on port 8033: is it in use?")

    monkeypatch.setattr(app, "serve_forever", cannot_start)
    assert main(["serve"]) == EXIT_FAILED
    assert capsys.readouterr().err == "error: cannot listen on port 8033: is it in use?\n"
