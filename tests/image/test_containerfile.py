"""A lint of hack/image/Containerfile (no hadolint here), and its fit with the chart.

The real build runs in e2e/image (``make e2e``) where an engine answers. Here: every path it
copies is staged by build.sh, `make image` runs build.sh, the entrypoint and every role the
chart starts are commands of the CLI, the user is numeric and the chart's, the ports are
the chart's.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml

from modelmesh.mesh.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "hack" / "image"
CONTAINERFILE = IMAGE_DIR / "Containerfile"
BUILD = IMAGE_DIR / "build.sh"
VALUES = yaml.safe_load((REPO / "charts" / "modelmesh" / "values.yaml").read_text())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def arguments(name: str) -> list[str]:
    return [rest for word, rest in instructions() if word == name]


def test_only_known_instructions_and_one_stage() -> None:
    known = {"ARG", "FROM", "COPY", "RUN", "ENV", "USER", "WORKDIR", "EXPOSE", "ENTRYPOINT", "CMD"}
    assert {word for word, _ in instructions()} <= known
    assert len(arguments("FROM")) == 1
    assert "ADD" not in {word for word, _ in instructions()}  # COPY only: no remote fetches


def test_every_copied_path_is_staged_by_the_build_script() -> None:
    script = BUILD.read_text()
    for copy in arguments("COPY"):
        *sources, _destination = shlex.split(copy)
        for source in sources:
            staged = source.rstrip("/")
            assert f'"$CONTEXT/{staged}"' in script, f"build.sh does not stage {source}"


def test_make_image_runs_the_build_script_on_this_file() -> None:
    makefile = (REPO / "Makefile").read_text()
    target = re.search(r"^image:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target and "hack/image/build.sh" in target.group(1)
    assert "hack/image/Containerfile" in BUILD.read_text()
    assert BUILD.stat().st_mode & 0o111, "build.sh must be executable"


def test_the_base_provides_what_the_run_steps_use() -> None:
    include = re.search(r"--include=(\S+)", BUILD.read_text())
    assert include
    packages = set(include.group(1).split(","))
    assert {"python3", "python3-venv", "libgomp1"} <= packages
    (run,) = arguments("RUN")
    for program in ("python3 -m venv", "groupadd", "useradd"):
        assert program in run
    assert "--no-index" in run, "the image build must not reach a package index"


def test_entrypoint_and_every_role_the_chart_starts_are_cli_commands() -> None:
    (entrypoint,) = arguments("ENTRYPOINT")
    (command,) = arguments("CMD")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert yaml.safe_load(entrypoint) == ["modelmesh"] and "modelmesh" in scripts
    parser = build_parser()
    for role in (yaml.safe_load(command), ["serve"], ["controller"], ["runtime"]):
        assert parser.parse_args(role).handler is not None, role


def test_user_is_numeric_non_root_and_the_charts() -> None:
    (user,) = arguments("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0
    assert int(uid) == VALUES["podSecurityContext"]["runAsUser"]
    assert int(gid) == VALUES["podSecurityContext"]["runAsGroup"]


def test_exposes_the_charts_ports() -> None:
    exposed = {int(p) for line in arguments("EXPOSE") for p in line.split()}
    mesh = VALUES["mesh"]
    assert exposed == {
        mesh["grpcPort"],
        mesh["restPort"],
        mesh["probePort"],
        VALUES["metrics"]["port"],
    }
