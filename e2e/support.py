"""Helpers of the end-to-end tests: tools on PATH, the container engine, the image, waiting.

These tests need what this project's own machines lack (a container engine that answers,
kind, a kind node image): each finds out first and skips, saying what is missing. They are
run by ``make e2e``, never by ``make test``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "hack" / "image" / "build.sh"
T = TypeVar("T")

# A digits sample (scikit-learn's data set, a zero) as the chart's NOTES.txt sends it.
DIGIT_ZERO = [
    [
        *(0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4),
        *(12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5, 10),
        *(12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0),
    ]
]


def run(
    *command: str | Path,
    timeout: float = 600,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def require_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"not on PATH: {', '.join(missing)} (this test needs a machine that has them)")


@dataclass(frozen=True)
class Engine:
    """docker or podman, with the flags this kind of machine needs.

    Podman here runs only with runc and cgroupfs (crun has no CAP_SYS_RESOURCE) and with
    explicit ulimits (runc cannot raise them); ENGINE_GLOBAL_ARGS and ENGINE_RUN_ARGS
    replace those defaults on machines that need other flags, or none.
    """

    name: str
    global_args: tuple[str, ...] = ()
    run_args: tuple[str, ...] = ()

    def __call__(self, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        return run(self.name, *self.global_args, *args, **options)

    def start(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``<engine> run --detach <args>``."""
        return self("run", "--detach", *self.run_args, *args)


PODMAN_DEFAULTS = (
    "--runtime runc --cgroup-manager cgroupfs",
    "--ulimit nofile=20000:20000 --ulimit nproc=1024:1024",
)


def container_engine() -> Engine:
    """docker or podman, whichever answers (ENGINE= to choose); skips when none does."""
    candidates = [os.environ["ENGINE"]] if os.environ.get("ENGINE") else ["docker", "podman"]
    for name in candidates:
        defaults = PODMAN_DEFAULTS if name == "podman" else ("", "")
        global_args = os.environ.get("ENGINE_GLOBAL_ARGS", defaults[0]).split()
        run_args = os.environ.get("ENGINE_RUN_ARGS", defaults[1]).split()
        engine = Engine(name, tuple(global_args), tuple(run_args))
        if shutil.which(name) and engine("info", timeout=60, check=False).returncode == 0:
            return engine
    pytest.skip(
        f"no container engine answers ({' / '.join(c + ' info' for c in candidates)} failed); "
        "start dockerd or install podman (see hack/image/build.sh)"
    )


def build_image(engine: Engine, image: str) -> str:
    """The image built from the working tree (E2E_IMAGE= to use a prebuilt one)."""
    prebuilt = os.environ.get("E2E_IMAGE")
    if prebuilt:
        return prebuilt
    env = {
        "ENGINE": engine.name,
        "ENGINE_GLOBAL_ARGS": " ".join(engine.global_args),
        "IMAGE": image,
    }
    run(BUILD_SCRIPT, timeout=1800, env=env)
    return image


def wait_until(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def http_json(url: str, body: object | None = None, timeout: float = 10) -> object:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    method = "GET" if data is None else "POST"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.load(reply)


def http_ok(url: str) -> bool | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200 or None
    except OSError:
        return None


def rest_infer(base_url: str, model: str, rows: Sequence[Sequence[float]]) -> list[int]:
    """Predicted labels over KServe V2 REST."""
    body = {
        "inputs": [
            {
                "name": "predict",
                "shape": [len(rows), len(rows[0])],
                "datatype": "FP32",
                "data": [x for row in rows for x in row],
            }
        ]
    }
    reply = http_json(f"{base_url}/v2/models/{model}/infer", body)
    assert isinstance(reply, dict), reply
    return [int(x) for x in reply["outputs"][0]["data"]]


def grpc_infer(address: str, model: str, rows: Sequence[Sequence[float]]) -> list[int]:
    """Predicted labels over KServe V2 gRPC, with the project's own CLI."""
    done = run(
        REPO / ".venv" / "bin" / "modelmesh",
        "predict",
        model,
        "--address",
        address,
        "--input",
        json.dumps(rows),
        "--json",
        timeout=120,
    )
    reply = json.loads(done.stdout)
    return [int(x) for x in reply["outputs"][0]["data"]]
