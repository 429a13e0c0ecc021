"""The container image, built for real (hack/image/build.sh) and run as the chart runs it:
non-root, read-only root filesystem, every capability dropped, a tmpfs at /tmp. A client
outside the container gets predictions over gRPC and REST; SIGTERM drains and exits 0.

Needs docker or podman that answers (on Debian: docker.io's dockerd, TOOLCHAIN.md §5) and,
for the first build, debootstrap and root. Skips otherwise. ``make e2e`` runs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.support import (
    DIGIT_ZERO,
    Engine,
    build_image,
    container_engine,
    grpc_infer,
    http_ok,
    rest_infer,
    wait_until,
)

pytestmark = pytest.mark.slow
IMAGE = "modelmesh:e2e"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return container_engine()


@pytest.fixture(scope="module")
def container(engine: Engine) -> Iterator[dict[str, str]]:
    image = build_image(engine, IMAGE)
    name = "modelmesh-e2e-image"
    engine("rm", "-f", name, check=False)
    engine.start(
        "--name",
        name,
        "--read-only",
        "--tmpfs",
        "/tmp:mode=1777",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--publish",
        "127.0.0.1::8033",
        "--publish",
        "127.0.0.1::8008",
        "--publish",
        "127.0.0.1::8089",
        image,
        "serve",
        "--demo",
    )
    try:
        ports = {
            port: engine("port", name, f"{port}/tcp").stdout.split()[0]
            for port in ("8033", "8008", "8089")
        }
        wait_until("the demo model", lambda: "registered: LOADED" in logs(engine, name), 180)
        yield {"name": name, **ports}
    finally:
        engine("rm", "-f", name, check=False)


def logs(engine: Engine, name: str) -> str:
    done = engine("logs", name, check=False)
    return done.stdout + done.stderr


def test_runs_as_non_root(engine: Engine, container: dict[str, str]) -> None:
    uid = engine("exec", container["name"], "id", "-u").stdout.strip()
    assert uid == "10001"


def test_probes_answer(container: dict[str, str]) -> None:
    assert wait_until("/ready", lambda: http_ok(f"http://{container['8089']}/ready"), 60)
    assert http_ok(f"http://{container['8089']}/live")


def test_predicts_over_grpc_and_rest_from_outside(container: dict[str, str]) -> None:
    assert grpc_infer(container["8033"], "demo-digits", DIGIT_ZERO) == [0]
    assert rest_infer(f"http://{container['8008']}", "demo-digits", DIGIT_ZERO) == [0]


def test_sigterm_drains_and_exits_cleanly(engine: Engine, container: dict[str, str]) -> None:
    engine("stop", "--time", "60", container["name"])
    code = engine("inspect", "--format", "{{.State.ExitCode}}", container["name"]).stdout
    assert code.strip() == "0"
    assert "shutting down" in logs(engine, container["name"])
