"""The CLI against a real mesh on loopback (embedded store, built-in runtime, real models).

The CLI is synchronous and the mesh runs on the test's event loop, so each command runs
in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelmesh.mesh.cli import models
from modelmesh.mesh.cli.main import main
from modelmesh.mesh.demo import prepare_demo
from tests.mesh.conftest import StartMesh
from tests.support.models import digits


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Awaitable[Result]]


@pytest.fixture
async def cli(start: StartMesh, capsys: pytest.CaptureFixture[str]) -> Cli:
    app = await start()
    capsys.readouterr()  # the mesh's start-up output is not ours

    async def run(*argv: str) -> Result:
        code = await asyncio.to_thread(main, [*argv, "--address", app.address])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


@pytest.fixture
def rows_file(tmp_path: Path) -> Path:
    """Four digits images as a bare JSON array (one input named predict)."""
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(digits()[0][:4].tolist()))
    return path


def _predictions(result: Result) -> list[int]:
    assert (result.code, result.err) == (0, "")
    reply = json.loads(result.out)
    (output,) = reply["outputs"]
    assert (output["datatype"], output["shape"]) == ("INT64", [4])
    return list(output["data"])


async def test_model_lifecycle(cli: Cli, rows_file: Path) -> None:
    registered = await cli("register", "digits", "--type", "sklearn", "--path", "sklearn", "--wait")
    assert registered.code == 0
    assert registered.out.startswith("model digits: LOADED\n")
    # not a terminal: a line per status change, the last one LOADED
    assert registered.err.splitlines()[-1].startswith("model digits: LOADED (")

    status = await cli("--json", "status", "digits")
    info = json.loads(status.out)
    assert (status.code, info["modelId"], info["status"]) == (0, "digits", "LOADED")
    assert [copy["copyStatus"] for copy in info["modelCopyInfos"]] == ["LOADED"]

    listed = await cli("list")
    header, row = listed.out.splitlines()
    assert header.split()[:4] == ["MODEL", "ID", "TYPE", "STATUS"]
    assert row.split()[:4] == ["digits", "sklearn", "LOADED", "1"]

    labels = digits()[1][:4].tolist()
    assert _predictions(await cli("predict", "digits", "--input", str(rows_file))) == labels
    typed = await cli("predict", "digits", "--input", str(rows_file), "--model-id", "--typed")
    assert _predictions(typed) == labels

    assert (await cli("unregister", "digits")).out == "model digits unregistered\n"
    gone = await cli("status", "digits")
    assert (gone.code, gone.out) == (1, "model digits: NOT_FOUND\n")


async def test_errors_are_one_line(cli: Cli, rows_file: Path) -> None:
    missing = await cli("predict", "nope", "--input", str(rows_file), "--model-id")
    assert missing.code == 1
    assert missing.out == ""
    assert missing.err.startswith("error: NOT_FOUND: ")
    assert "nope" in missing.err
    assert missing.err.count("\n") == 1

    unknown = await cli("ensure-loaded", "nope")
    assert (unknown.code, unknown.out) == (1, "model nope: NOT_FOUND\n")

    await cli("register", "m", "--type", "sklearn", "--path", "sklearn")
    conflict = await cli("register", "m", "--type", "sklearn", "--path", "elsewhere")
    assert conflict.code == 1
    assert conflict.err.startswith("error: ALREADY_EXISTS: ")
    assert conflict.err.count("\n") == 1


async def test_failed_load_exits_1_with_the_errors(cli: Cli) -> None:
    failed = await cli("register", "bad", "--type", "sklearn", "--path", "no/such/dir", "--wait")
    assert failed.code == 1
    lines = failed.out.splitlines()
    assert lines[0] == "model bad: LOADING_FAILED"
    assert any(line.startswith("  error: ") for line in lines)


async def test_vmodel_lifecycle(cli: Cli, rows_file: Path) -> None:
    created = await cli(
        "vmodel",
        "set",
        "alias",
        "--target",
        "m1",
        "--type",
        "sklearn",
        "--path",
        "sklearn",
        "--owner",
        "ci",
        "--wait",
    )
    assert created.code == 0, created
    assert created.out.splitlines()[:2] == [
        "vmodel alias: DEFINED (owner ci)",
        "  active model m1: LOADED",
    ]

    status = await cli("--json", "vmodel", "status", "alias", "--owner", "ci")
    info = json.loads(status.out)
    assert (info["vModelId"], info["status"], info["activeModelId"]) == ("alias", "DEFINED", "m1")

    listed = await cli("list", "--vmodels")
    assert listed.out.splitlines()[1].split() == ["alias", "ci", "DEFINED", "m1", "m1"]
    models_listed = await cli("--json", "list")
    assert json.loads(models_listed.out)[0]["vModelIds"] == ["alias"]

    labels = digits()[1][:4].tolist()
    assert _predictions(await cli("predict", "alias", "--input", str(rows_file))) == labels
    by_header = await cli("predict", "alias", "--input", str(rows_file), "--vmodel")
    assert json.loads(by_header.out)["model_name"] == "m1"

    assert (await cli("vmodel", "delete", "alias", "--owner", "ci")).code == 0
    gone = await cli("vmodel", "status", "alias", "--owner", "ci")
    assert (gone.code, gone.out) == (1, "vmodel alias: NOT_FOUND\n")


async def test_list_follows_pages(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "PAGE_SIZE", 2)
    for i in range(5):
        assert (await cli("register", f"m{i}", "--type", "sklearn", "--path", "sklearn")).code == 0
    listed = json.loads((await cli("--json", "list", "--prefix", "m")).out)
    assert [m["modelId"] for m in listed] == [f"m{i}" for i in range(5)]


async def test_demo_sample_through_the_mesh(cli: Cli, mesh_models: Path) -> None:
    demo = prepare_demo(mesh_models)
    registered = await cli(
        "register", demo.model_id, "--type", demo.model_type, "--path", demo.path, "--wait"
    )
    assert registered.code == 0
    predicted = await cli("predict", demo.model_id, "--input", str(demo.sample_input_path))
    reply = json.loads(predicted.out)
    assert (reply["outputs"][0]["shape"], reply["outputs"][0]["data"]) == ([2], [0, 1])


@pytest.mark.slow
def test_serve_demo_process(tmp_path: Path, idle_port: int) -> None:
    """``modelmesh serve --demo`` as its own process: the printed command's sample predicts,
    and SIGTERM ends it cleanly."""
    env = {
        **os.environ,
        "MM_SVC_GRPC_PORT": str(idle_port),
        # free ports for REST, probes and metrics: others may run a mesh on this machine
        "REST_PROXY_LISTEN_PORT": "0",
        "MM_PROBE_PORT": "0",
        "MM_METRICS": "prometheus:port=0",
        "MM_DATA_DIR": str(tmp_path / "data"),
        "ROOT_MODEL_DIR": str(tmp_path / "models"),
    }
    argv = [sys.executable, "-m", "modelmesh.mesh.cli.main", "serve", "--demo"]
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:  # a file, not a pipe: the server never blocks on it
        server = subprocess.Popen(argv, env=env, stderr=log_file)
    try:
        sample = tmp_path / "models" / "demo" / "digits-request.json"
        predict = [
            sys.executable,
            "-m",
            "modelmesh.mesh.cli.main",
            "predict",
            "demo-digits",
            "--input",
            str(sample),
            "--address",
            f"127.0.0.1:{idle_port}",
        ]
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run(predict, capture_output=True, text=True, check=False)
            if done.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["outputs"][0]["data"] == [0, 1]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    log = log_path.read_text()
    assert server.returncode == 0, log
    assert "modelmesh predict demo-digits --input" in log
