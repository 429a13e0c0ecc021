"""The runtime pods: one Deployment and one ServingRuntime per `runtimes:` entry, the mesh
container's ports, probes, drain, hardening and wiring (etcd, storage, capacity, labels)."""

from __future__ import annotations

import base64
import json
from typing import Any

import yaml

from tests.charts.conftest import CHART, NAMESPACE, container, env_of, pod_spec, render


def runtimes_of(scenario: str) -> list[dict[str, Any]]:
    values = yaml.safe_load((CHART / "ci" / scenario).read_text()) or {}
    default = yaml.safe_load((CHART / "values.yaml").read_text())["runtimes"]
    return values.get("runtimes", default)


def runtime_deployments(rendered: Any) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["labels"]["modelmesh.io/runtime"]: d
        for d in rendered.all("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "runtime"
    }


def test_defaults_ship_the_builtin_python_runtime() -> None:
    rendered = render()
    (deployment,) = runtime_deployments(rendered).values()
    assert deployment["metadata"]["name"] == "modelmesh-serving-python"
    assert deployment["spec"]["replicas"] == 2
    (runtime,) = rendered.all("ServingRuntime")
    assert runtime["metadata"]["name"] == "python"
    formats = {f["name"]: f for f in runtime["spec"]["supportedModelFormats"]}
    assert set(formats) == {"sklearn", "xgboost", "lightgbm", "onnx"}
    assert all(f["autoSelect"] for f in formats.values())
    assert runtime["spec"]["multiModel"] is True
    mesh = container(deployment, "mesh")
    assert mesh["args"] == ["serve"]
    assert [c["name"] for c in pod_spec(deployment)["containers"]] == ["mesh"]
    assert env_of(mesh)["MM_RUNTIME"] == "builtin"


def test_one_deployment_and_one_servingruntime_per_entry() -> None:
    rendered = render("three-runtimes-values.yaml")
    entries = runtimes_of("three-runtimes-values.yaml")
    names = [r["name"] for r in entries]
    assert sorted(runtime_deployments(rendered)) == sorted(names)
    assert rendered.names("ServingRuntime") == set(names)
    for entry in entries:
        runtime = rendered.one("ServingRuntime", entry["name"])
        assert runtime["metadata"]["annotations"]["modelmesh.io/deployment"] == (
            f"modelmesh-serving-{entry['name']}"
        )
        declared = [(f["name"], f.get("version")) for f in entry["supportedModelFormats"]]
        rendered_formats = [
            (f["name"], f.get("version")) for f in runtime["spec"]["supportedModelFormats"]
        ]
        assert rendered_formats == declared
    assert (
        rendered.one("ServingRuntime", "python")["spec"]["supportedModelFormats"][1]["priority"]
        == 2
    )


def test_mesh_container_ports_probes_and_drain() -> None:
    for deployment in runtime_deployments(render("three-runtimes-values.yaml")).values():
        spec = pod_spec(deployment)
        mesh = container(deployment, "mesh")
        ports = {p["name"]: p["containerPort"] for p in mesh["ports"]}
        assert ports == {"grpc": 8033, "http": 8008, "probes": 8089, "metrics": 2112}
        assert mesh["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "probes"}
        assert mesh["livenessProbe"]["httpGet"] == {"path": "/live", "port": "probes"}
        assert mesh["startupProbe"]["httpGet"]["port"] == "probes"
        assert mesh["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}
        env = env_of(mesh)
        assert env["SHUTDOWN_TIMEOUT_MS"] == "90000"
        # the grace period outlasts the preStop wait plus the drain
        assert spec["terminationGracePeriodSeconds"] > 5 + 90
        for other in spec["containers"]:
            if other["name"] != "mesh":  # third-party containers live through the drain
                assert other["lifecycle"]["preStop"]["sleep"]["seconds"] >= 95


def test_every_pod_runs_hardened() -> None:
    for scenario in ("three-runtimes-values.yaml", "etcd-ha-values.yaml"):
        for workload in render(scenario).all("Deployment") + render(scenario).all("StatefulSet"):
            spec = pod_spec(workload)
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert spec["securityContext"]["runAsUser"] != 0
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for c in spec["containers"]:
                where = f"{workload['metadata']['name']}/{c['name']}"
                context = c["securityContext"]
                # the one container whose values ask for a writable root (MLServer's)
                writable = where == "modelmesh-serving-mlserver-1/server"
                assert context["readOnlyRootFilesystem"] is not writable, where
                assert context["runAsNonRoot"] is True, where
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["capabilities"]["drop"] == ["ALL"], where
                assert "add" not in context["capabilities"], where
                assert c["resources"].get("requests"), where


def test_runtime_pods_get_no_api_token() -> None:
    rendered = render()
    for deployment in runtime_deployments(rendered).values():
        spec = pod_spec(deployment)
        assert spec["automountServiceAccountToken"] is False
        account = rendered.one("ServiceAccount", spec["serviceAccountName"])
        assert account["automountServiceAccountToken"] is False


def test_mesh_reads_etcd_storage_and_its_identity() -> None:
    deployment = runtime_deployments(render())["python"]
    spec = pod_spec(deployment)
    mesh = container(deployment, "mesh")
    env = env_of(mesh)
    assert env["KV_STORE"] == "etcd:/etc/modelmesh/etcd/etcd_connection"
    assert env["MM_SERVICE_NAME"] == "modelmesh-serving"
    assert env["MM_KVSTORE_PREFIX"] == "mm"
    assert env["WKUBE_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["STORAGE_CONFIG_DIR"] == "/etc/modelmesh/storage"
    assert env["MM_METRICS"] == "prometheus:port=2112;scheme=http"
    mounts = {m["name"]: m for m in mesh["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts["storage-config"]["mountPath"] == "/etc/modelmesh/storage"
    assert mounts["storage-config"]["readOnly"] is True
    assert volumes["storage-config"]["secret"]["secretName"] == "storage-config"
    assert mounts["etcd-connection"]["mountPath"] == "/etc/modelmesh/etcd"
    assert volumes["etcd-connection"]["secret"]["items"] == [
        {"key": "etcd_connection", "path": "etcd_connection"}
    ]
    # the read-only root needs writable space wherever the process writes
    writable = {mounts[name]["mountPath"] for name in ("tmp", "models", "model-cache")}
    assert writable == {"/tmp", "/models", "/model-cache"}
    assert env["MM_DATA_DIR"].startswith("/tmp/") and env["ROOT_MODEL_DIR"] == "/models"
    assert env["MM_MODEL_CACHE_DIR"] == "/model-cache"  # pulled models, apart from local ones


def test_builtin_capacity_comes_from_the_memory_request() -> None:
    deployment = runtime_deployments(render("three-runtimes-values.yaml"))["python"]
    mesh = container(deployment, "mesh")
    env = env_of(mesh)
    assert env["CONTAINER_MEM_REQ_BYTES"] == {
        "resourceFieldRef": {"containerName": "mesh", "resource": "requests.memory"}
    }
    assert env["MEM_BUFFER_BYTES"] == "134217728"
    assert env["LOADING_CONCURRENCY"] == "4"
    assert env["LOADTIME_TIMEOUT"] == "120000"
    assert mesh["resources"]["requests"]["memory"] == "2Gi"
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    assert volumes["model-cache"]["emptyDir"] == {"sizeLimit": "10Gi"}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["team"] == "ml"
    assert pod_spec(deployment)["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_type_constraint_labels_per_runtime() -> None:
    deployments = runtime_deployments(render("three-runtimes-values.yaml"))
    labels = env_of(container(deployments["mlserver-1"], "mesh"))["MM_LABELS"].split(",")
    assert labels == [
        "mt:sklearn",
        "mt:sklearn:1",
        "mt:xgboost",
        "mt:xgboost:2",
        "mt:lightgbm",
        "mt:lightgbm:4",
        "rt:mlserver-1",
        "pv:grpc-v2",
    ]
    custom = env_of(container(deployments["custom-runtime"], "mesh"))["MM_LABELS"]
    assert custom == "mt:keyword-counter,rt:custom-runtime,pv:grpc-v2"


def test_third_party_runtime_with_adapter() -> None:
    deployment = runtime_deployments(render("three-runtimes-values.yaml"))["mlserver-1"]
    names = [c["name"] for c in pod_spec(deployment)["containers"]]
    assert names == ["mesh", "server", "adapter"]
    mesh_env = env_of(container(deployment, "mesh"))
    assert mesh_env["MM_RUNTIME"] == "grpc"
    assert mesh_env["INTERNAL_GRPC_PORT"] == "8085"  # the adapter
    assert mesh_env["INTERNAL_SERVING_GRPC_PORT"] == "8001"  # the server itself
    server = container(deployment, "server")
    assert server["image"] == "docker.io/seldonio/mlserver:1.7.1"
    adapter = container(deployment, "adapter")
    assert adapter["args"] == ["adapter", "mlserver"]
    adapter_env = env_of(adapter)
    assert adapter_env["CONTAINER_MEM_REQ_BYTES"]["resourceFieldRef"]["containerName"] == "server"
    assert adapter_env["INTERNAL_GRPC_PORT"] == "8085"
    assert {m["mountPath"] for m in adapter["volumeMounts"]} >= {
        "/models",
        "/etc/modelmesh/storage",
    }
    assert {m["mountPath"] for m in server["volumeMounts"]} >= {"/models"}
    runtime = render("three-runtimes-values.yaml").one("ServingRuntime", "mlserver-1")
    assert runtime["spec"]["grpcEndpoint"] == "port:8085"
    assert [c["name"] for c in runtime["spec"]["containers"]] == ["mesh", "server"]


def test_third_party_runtime_without_adapter_and_autoscaled() -> None:
    rendered = render("three-runtimes-values.yaml")
    deployment = runtime_deployments(rendered)["custom-runtime"]
    assert [c["name"] for c in pod_spec(deployment)["containers"]] == ["mesh", "server"]
    assert "replicas" not in deployment["spec"]  # the HPA owns it (no fight on every sync)
    assert container(deployment, "server")["image"].endswith("@sha256:" + "0" * 64)
    (hpa,) = rendered.all("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_one_disruption_budget_per_runtime_matching_its_pods() -> None:
    rendered = render("three-runtimes-values.yaml")
    deployments = runtime_deployments(rendered)
    budgets = rendered.all("PodDisruptionBudget")
    assert len(budgets) == len(deployments)
    for budget in budgets:
        selector = budget["spec"]["selector"]["matchLabels"]
        matched = [
            d
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matched) == 1, budget["metadata"]["name"]
        assert budget["spec"]["maxUnavailable"] == 1
    assert not render(podDisruptionBudget__enabled=False).all("PodDisruptionBudget")


def test_serving_service_is_headless_over_every_runtime_pod() -> None:
    rendered = render("three-runtimes-values.yaml")
    service = rendered.one("Service", "modelmesh-serving")
    assert service["spec"]["clusterIP"] == "None"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"grpc": (8033, "grpc"), "http": (8008, "http")}
    selector = service["spec"]["selector"].items()
    for deployment in runtime_deployments(rendered).values():
        assert selector <= deployment["spec"]["template"]["metadata"]["labels"].items()
    for other in rendered.all("StatefulSet") + rendered.all("Deployment"):
        if other["metadata"]["labels"]["app.kubernetes.io/component"] != "runtime":
            assert not selector <= other["spec"]["template"]["metadata"]["labels"].items()
    tls_service = render("tls-values.yaml").one("Service", "modelmesh-serving")
    assert "clusterIP" not in tls_service["spec"]


def test_metrics_service_and_service_monitor() -> None:
    rendered = render("monitoring-values.yaml")
    service = rendered.one("Service", "mm-modelmesh-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 2112, "targetPort": "metrics", "protocol": "TCP"}
    ]
    (monitor,) = rendered.all("ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == (
        "metrics",
        "/metrics",
        "15s",
    )
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    deployment = runtime_deployments(rendered)["python"]
    assert env_of(container(deployment, "mesh"))["MM_METRICS"] == (
        "prometheus:port=2112;scheme=http;per_model_metrics"
    )
    assert not render().all("ServiceMonitor")
    off = runtime_deployments(render(metrics__enabled=False))["python"]
    assert env_of(container(off, "mesh"))["MM_METRICS"] == "disabled"


def test_storage_secret_from_values_and_existing() -> None:
    rendered = render("storage-values.yaml")
    secret = rendered.one("Secret", "storage-config")
    documents = {k: json.loads(base64.b64decode(v)) for k, v in secret["data"].items()}
    assert documents["localMinIO"]["type"] == "s3"
    assert documents["localMinIO"]["default_bucket"] == "modelmesh-example-models"
    assert documents["web"] == {"type": "http", "url": "https://models.example.com"}
    assert documents["preformatted"] == {"type": "pvc", "name": "models-pvc"}
    assert render().one("Secret", "storage-config")["data"] == {}  # always mountable
    existing = render("existing-secrets-values.yaml")
    assert "storage-config" not in existing.names("Secret")
    deployment = runtime_deployments(existing)["python"]
    volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == "storage-config")
    assert volume["secret"]["secretName"] == "team-storage-config"


def test_config_checksums_roll_the_pods_only_when_config_changes() -> None:
    def checksums(*files: str, **sets: Any) -> dict[str, str]:
        deployment = runtime_deployments(render(*files, **sets))["python"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        return {k: v for k, v in annotations.items() if k.startswith("checksum/")}

    base = checksums()
    assert set(base) == {"checksum/storage-config", "checksum/etcd-connection"}
    assert checksums(controller__replicaCount=3) == base
    changed = checksums("storage-values.yaml")
    assert changed["checksum/storage-config"] != base["checksum/storage-config"]
    assert changed["checksum/etcd-connection"] == base["checksum/etcd-connection"]


def test_tls_mounts_the_certificate_and_tells_the_mesh() -> None:
    deployment = runtime_deployments(render("tls-values.yaml"))["python"]
    mesh = container(deployment, "mesh")
    env = env_of(mesh)
    assert env["MM_TLS_KEY_CERT_PATH"] == "/etc/modelmesh/tls/tls.crt"
    assert env["MM_TLS_PRIVATE_KEY_PATH"] == "/etc/modelmesh/tls/tls.key"
    assert env["MM_TLS_CLIENT_AUTH"] == "require"
    assert env["MM_TLS_TRUST_CERT_PATH"] == "/etc/modelmesh/tls/ca.crt"
    volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == "tls")
    assert volume["secret"]["secretName"] == "modelmesh-tls"
    assert "MM_TLS_KEY_CERT_PATH" not in env_of(
        container(runtime_deployments(render())["python"], "mesh")
    )


def test_network_policies() -> None:
    open_policy = render().one("NetworkPolicy", "mm-modelmesh-runtime")
    client_rule = next(
        r
        for r in open_policy["spec"]["ingress"]
        if {"port": 8033, "protocol": "TCP"} in r.get("ports", [])
    )
    assert "from" not in client_rule  # allowExternal: any pod may call the mesh
    closed = render("tls-values.yaml").one("NetworkPolicy", "mm-modelmesh-runtime")
    client_rule = next(
        r
        for r in closed["spec"]["ingress"]
        if {"port": 8033, "protocol": "TCP"} in r.get("ports", [])
    )
    peers = client_rule["from"]
    assert {"podSelector": {"matchLabels": {"mm-modelmesh-client": "true"}}} in peers
    assert {"namespaceSelector": {"matchLabels": {"modelmesh-client": "true"}}} in peers
    etcd = render().one("NetworkPolicy", "mm-modelmesh-etcd")
    client_port = next(r for r in etcd["spec"]["ingress"] if r["ports"][0]["port"] == 2379)
    components = {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for p in client_port["from"]
    }
    assert components == {"runtime", "etcd"}
    controller = render().one("NetworkPolicy", "mm-modelmesh-controller")
    assert controller["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in controller["spec"]
    assert not render(networkPolicy__enabled=False).all("NetworkPolicy")
