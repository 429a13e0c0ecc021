"""The chart speaks the programs' language: the environment it renders, filled in as the
kubelet would (downward API), is read without error by the mesh's, the built-in runtime's
and the controller's own settings code, and means what the values say."""

from __future__ import annotations

import re
from typing import Any

import pytest

from modelmesh.controller.settings import ControllerSettings
from modelmesh.mesh.settings import Settings
from modelmesh.runtimes.python.settings import RuntimeSettings
from tests.charts.conftest import container, render

POD = "modelmesh-serving-python-5d8f7c6b9-x2k4q"
FIELDS = {"metadata.name": POD, "metadata.namespace": "modelmesh-serving"}
FIELDS |= {"status.podIP": "10.244.1.7", "spec.nodeName": "node-1"}
UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def kubelet_env(workload: dict[str, Any], name: str) -> dict[str, str]:
    """The container's environment with fieldRef and resourceFieldRef resolved."""
    spec = container(workload, name)
    containers = {c["name"]: c for c in workload["spec"]["template"]["spec"]["containers"]}
    env = {}
    for item in spec.get("env", []):
        source = item.get("valueFrom")
        if source is None:
            env[item["name"]] = item["value"]
        elif "fieldRef" in source:
            env[item["name"]] = FIELDS[source["fieldRef"]["fieldPath"]]
        else:
            ref = source["resourceFieldRef"]
            kind, resource = ref["resource"].split(".")
            quantity = containers[ref["containerName"]]["resources"][kind][resource]
            number, unit = re.fullmatch(r"(\d+)([KMG]i)?", quantity).groups()  # type: ignore[union-attr]
            env[item["name"]] = str(int(number) * UNITS.get(unit or "", 1))
    return env


def runtime_deployment(scenario: str, runtime: str) -> dict[str, Any]:
    return render(scenario).one("Deployment", f"modelmesh-serving-{runtime}")


def test_builtin_runtime_pod_settings() -> None:
    env = kubelet_env(runtime_deployment("default-values.yaml", "python"), "mesh")
    settings = Settings.from_env(env)
    assert settings.grpc.port == 8033
    assert (settings.http.rest_port, settings.http.probe_port) == (8008, 8089)
    assert (settings.metrics.enabled, settings.metrics.port) == (True, 2112)
    assert settings.kv.kind == "etcd"
    assert settings.kv.target == "/etc/modelmesh/etcd/etcd_connection"
    assert (settings.kv.prefix, settings.kv.service_name) == ("mm", "modelmesh-serving")
    assert settings.instance_id == POD[-12:]
    assert settings.cluster.advertise_host == "10.244.1.7"
    assert {"mt:sklearn", "mt:onnx:1", "rt:python"} <= settings.labels
    assert settings.runtime.kind == "builtin"
    assert settings.shutdown_timeout_s == 90
    assert settings.logs.json is True
    runtime = RuntimeSettings.from_env(env)
    assert runtime.capacity_bytes == 2**30 - 256 * 2**20  # 1Gi request - the buffer
    assert str(runtime.models_root) == "/models"
    assert str(runtime.model_cache_dir) == "/model-cache"
    assert runtime.loading_concurrency == 2 and runtime.loading_timeout_ms == 90_000


def test_third_party_runtime_pod_settings() -> None:
    env = kubelet_env(runtime_deployment("three-runtimes-values.yaml", "mlserver-1"), "mesh")
    settings = Settings.from_env(env)
    assert settings.runtime.kind == "grpc"
    assert settings.runtime.management == "localhost:8085"
    assert settings.runtime.serving == "localhost:8001"
    assert "rt:mlserver-1" in settings.labels and "rt:python" not in settings.labels


def test_tls_settings() -> None:
    env = kubelet_env(runtime_deployment("tls-values.yaml", "python"), "mesh")
    tls = Settings.from_env(env).tls
    assert tls.enabled and tls.client_auth == "require"
    assert tls.trust_path == "/etc/modelmesh/tls/ca.crt"
    assert tls.peer_server_name == "modelmesh-serving.modelmesh-serving.svc"
    metrics = Settings.from_env(env).metrics
    assert metrics.scheme == "https"


@pytest.mark.parametrize(
    ("scenario", "scope"),
    [("namespace-scope-values.yaml", True), ("cluster-scope-values.yaml", False)],
)
def test_controller_settings(scenario: str, scope: bool) -> None:
    controller = render(scenario).one("Deployment", "mm-modelmesh-controller")
    settings = ControllerSettings.from_env(kubelet_env(controller, "controller"))
    assert settings.namespace == "modelmesh-serving"
    assert settings.namespace_scope is scope
    assert settings.leader_elect is True and settings.identity == POD
    assert (settings.service_name, settings.service_port, settings.rest_port) == (
        "modelmesh-serving",
        8033,
        8008,
    )
    assert settings.mesh_endpoint.format(namespace="team-a") == "modelmesh-serving.team-a:8033"
