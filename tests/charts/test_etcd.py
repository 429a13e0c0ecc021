"""etcd, bundled (StatefulSet, persistence, auth, 1 or 3 members) or external (a Secret with
upstream's etcd_connection JSON), and the auth sidecar's script against a real etcd."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from modelmesh.mesh.kv.etcd_config import parse_etcd_target
from tests.charts.conftest import CHART, container, env_of, pod_spec, render
from tests.support.etcd import etcd_cluster, free_ports

AUTH_SCRIPT = CHART / "files" / "etcd-auth.py"


def connection(rendered: object, name: str = "mm-modelmesh-etcd-connection") -> dict:
    secret = rendered.one("Secret", name)  # type: ignore[attr-defined]
    return json.loads(base64.b64decode(secret["data"]["etcd_connection"]))


def test_bundled_single_member() -> None:
    rendered = render()
    etcd = rendered.one("StatefulSet", "mm-modelmesh-etcd")
    assert etcd["spec"]["replicas"] == 1
    assert etcd["spec"]["podManagementPolicy"] == "Parallel"
    args = container(etcd, "etcd")["args"]
    host = "mm-modelmesh-etcd-0.mm-modelmesh-etcd-headless.modelmesh-serving.svc.cluster.local"
    assert f"--initial-cluster=mm-modelmesh-etcd-0=http://{host}:2380" in args
    (claim,) = etcd["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    headless = rendered.one("Service", "mm-modelmesh-etcd-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert etcd["spec"]["serviceName"] == "mm-modelmesh-etcd-headless"
    doc = connection(rendered)
    assert doc == {"endpoints": f"http://{host}:2379", "root_prefix": "modelmesh-serving"}
    # the mesh's own parser accepts what the chart writes
    config = parse_etcd_target(json.dumps(doc))
    assert config.endpoints == (f"{host}:2379",) and config.root_prefix == "modelmesh-serving"
    assert not any(
        b["metadata"]["name"] == "mm-modelmesh-etcd" for b in rendered.all("PodDisruptionBudget")
    )


def test_bundled_three_members_with_auth() -> None:
    rendered = render("etcd-ha-values.yaml")
    etcd = rendered.one("StatefulSet", "mm-modelmesh-etcd")
    assert etcd["spec"]["replicas"] == 3
    initial = next(a for a in container(etcd, "etcd")["args"] if a.startswith("--initial-cluster="))
    assert initial.count("=http://") == 3
    claim = etcd["spec"]["volumeClaimTemplates"][0]["spec"]
    assert (claim["storageClassName"], claim["resources"]["requests"]["storage"]) == (
        "standard",
        "2Gi",
    )
    doc = connection(rendered)
    assert doc["userid"] == "root" and doc["password"] == "ci-only-password"
    assert len(doc["endpoints"].split(",")) == 3
    assert parse_etcd_target(json.dumps(doc)).userid == "root"
    password = rendered.one("Secret", "mm-modelmesh-etcd")
    assert base64.b64decode(password["data"]["etcd-root-password"]) == b"ci-only-password"
    sidecar = container(etcd, "auth")
    assert sidecar["command"] == ["python3", "/scripts/etcd-auth.py"]
    assert env_of(sidecar)["ETCD_ROOT_PASSWORD"] == {
        "secretKeyRef": {"name": "mm-modelmesh-etcd", "key": "etcd-root-password"}
    }
    script = rendered.one("ConfigMap", "mm-modelmesh-etcd-auth")["data"]["etcd-auth.py"]
    assert script == AUTH_SCRIPT.read_text().rstrip("\n")
    budget = rendered.one("PodDisruptionBudget", "mm-modelmesh-etcd")
    assert budget["spec"]["maxUnavailable"] == 1


def test_bundled_auth_from_an_existing_secret() -> None:
    rendered = render("existing-secrets-values.yaml")
    assert "mm-modelmesh-etcd-connection" not in rendered.names("Secret")
    assert "mm-modelmesh-etcd" not in rendered.names("Secret")
    etcd = rendered.one("StatefulSet", "mm-modelmesh-etcd")
    ref = env_of(container(etcd, "auth"))["ETCD_ROOT_PASSWORD"]["secretKeyRef"]
    assert ref == {"name": "modelmesh-etcd-auth", "key": "etcd-root-password"}
    runtime = next(
        d
        for d in rendered.all("Deployment")
        if d["metadata"]["name"].startswith("modelmesh-serving-")
    )
    volume = next(v for v in pod_spec(runtime)["volumes"] if v["name"] == "etcd-connection")
    assert volume["secret"]["secretName"] == "modelmesh-etcd-auth"


def test_external_etcd_runs_nothing_and_mounts_the_given_secret() -> None:
    rendered = render("external-etcd-values.yaml")
    assert not rendered.all("StatefulSet")
    assert not any("etcd" in name for name in rendered.names("Service"))
    assert not any("etcd" in name for name in rendered.names("Secret"))
    assert "mm-modelmesh-etcd" not in rendered.names("NetworkPolicy")
    runtime = next(
        d
        for d in rendered.all("Deployment")
        if d["metadata"]["name"].startswith("modelmesh-serving-")
    )
    volume = next(v for v in pod_spec(runtime)["volumes"] if v["name"] == "etcd-connection")
    assert volume["secret"] == {
        "secretName": "model-serving-etcd",
        "items": [{"key": "etcd_connection", "path": "etcd_connection"}],
    }


def test_without_persistence_etcd_uses_an_empty_dir() -> None:
    etcd = render(etcd__persistence__enabled=False).one("StatefulSet", "mm-modelmesh-etcd")
    assert "volumeClaimTemplates" not in etcd["spec"]
    assert {"name": "data", "emptyDir": {}} in pod_spec(etcd)["volumes"]


def run_auth_script(endpoint: str, password: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ETCD_ENDPOINT": endpoint, "ETCD_ROOT_PASSWORD": password}
    return subprocess.run(
        [sys.executable, str(AUTH_SCRIPT), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_auth_script_turns_authentication_on_once(tmp_path: Path) -> None:
    etcd = render("etcd-ha-values.yaml").one("StatefulSet", "mm-modelmesh-etcd")
    main = container(etcd, "etcd")
    probes = [
        main[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
    ]
    (metrics_port,) = free_ports(1)
    metrics_flag = f"--listen-metrics-urls=http://127.0.0.1:{metrics_port}"
    assert any(a.startswith("--listen-metrics-urls=") for a in main["args"])
    with etcd_cluster(tmp_path, extra_args=[metrics_flag]) as cluster:
        url = cluster.members[0].url
        first = run_auth_script(url, "s3cret")
        assert first.returncode == 0, first.stderr
        assert "authentication enabled for user root" in first.stderr
        refused = cluster.etcdctl("get", "x", check=False)
        assert refused.returncode != 0 and "user name is empty" in refused.stderr
        assert cluster.etcdctl("--user=root:s3cret", "put", "x", "1").stdout.strip() == "OK"
        again = run_auth_script(url, "s3cret")  # a restart: nothing to do
        assert again.returncode == 0 and "already enabled" in again.stderr
        for path in probes:  # the chart's probes still pass with authentication on
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}{path}") as reply:
                assert json.load(reply)["health"] == "true", path
        wrong = run_auth_script(url, "other")  # the Secret changed, etcd did not
        assert wrong.returncode == 1
        assert "etcdctl user passwd root" in wrong.stderr and "other" not in wrong.stderr


def test_auth_script_finishes_a_half_done_setup(tmp_path: Path) -> None:
    """A member that died between adding root and enabling auth: the next run completes."""
    with etcd_cluster(tmp_path) as cluster:
        cluster.etcdctl("user", "add", "root:s3cret")
        cluster.etcdctl("role", "add", "root")
        done = run_auth_script(cluster.members[0].url, "s3cret")
        assert done.returncode == 0, done.stderr
        assert cluster.etcdctl("--user=root:s3cret", "auth", "status").stdout.count("true") == 1
