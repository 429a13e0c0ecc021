"""Rendering charts/modelmesh with the real Helm v3 binary (hack/install_helm.py puts it in
.venv/bin; `make test` runs that first).

``render(*values_files, sets=...)`` runs ``helm template`` and returns the objects, cached per
arguments so the many structural tests of one scenario share one render (~50 ms each).
``Rendered`` finds objects by kind and name. Until files/grafana-dashboard.json (written by
the metrics work) is in the tree, renders turn the dashboard off, and its test says why it
skips.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelmesh"
SCENARIOS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
DASHBOARD = CHART / "files" / "grafana-dashboard.json"
NAMESPACE = "modelmesh-serving"
RELEASE = "mm"
# the oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and a recent one
KUBE_VERSIONS = ("1.30.0", "1.34.0")


def helm_binary() -> str:
    local = REPO / ".venv" / "bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    if not found:
        pytest.fail("helm is missing: run `make test`, or `python hack/install_helm.py`")
    return found


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [helm_binary(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def template_args(
    values_files: tuple[str, ...] = (),
    sets: tuple[tuple[str, str], ...] = (),
    *,
    chart: Path = CHART,
    kube_version: str = KUBE_VERSIONS[0],
) -> list[str]:
    args = ["template", RELEASE, str(chart), "--namespace", NAMESPACE]
    args += ["--kube-version", kube_version]
    for name in values_files:
        args += ["-f", str(CHART / "ci" / name) if "/" not in name else name]
    if not DASHBOARD.exists():
        args += ["--set", "metrics.dashboard.enabled=false"]
    for key, value in sets:
        args += ["--set", f"{key}={value}"]
    return args


@functools.cache
def render_text(
    values_files: tuple[str, ...] = (), sets: tuple[tuple[str, str], ...] = (), crds: bool = False
) -> str:
    args = template_args(values_files, sets)
    return helm(*args, *(["--include-crds"] if crds else [])).stdout


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
        return found[0]

    def names(self, kind: str) -> set[str]:
        return {o["metadata"]["name"] for o in self.all(kind)}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.objects)


def render(*values_files: str, crds: bool = False, **sets: Any) -> Rendered:
    """Objects of ``helm template`` with these ci/ files (or paths) and ``--set key=value``
    (``__`` in a keyword stands for ``.``)."""
    pairs = tuple(sorted((k.replace("__", "."), _set_value(v)) for k, v in sets.items()))
    text = render_text(tuple(values_files), pairs, crds)
    # libyaml's loader: ten times faster than the pure-Python one on a full render
    return Rendered([doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc])


def _set_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in pod_spec(workload)["containers"] if c["name"] == name]
    assert found, f"{workload['metadata']['name']} has no container {name}"
    return found[0]


def env_of(container_spec: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or the valueFrom mapping)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container_spec.get("env", [])}
