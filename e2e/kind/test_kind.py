"""The whole product on a kind cluster, as a user installs it.

Creates a kind cluster (or reuses KIND_CLUSTER), builds the image (hack/image/build.sh; or
E2E_IMAGE=<prebuilt>) and loads it into the nodes, starts an in-cluster MinIO holding the
example model, installs charts/modelmesh with the bundled etcd (values-e2e.yaml), applies
KServe's example InferenceService, waits for it to be Ready, predicts over gRPC and REST,
then restarts the runtime Deployment under steady in-cluster traffic (traffic.py) and
counts failed requests: there must be none. Last, deleting the InferenceService unregisters
its model.

Needs kind, kubectl and docker (or podman with KIND_EXPERIMENTAL_PROVIDER=podman) and pulls
kindest/node, etcd and MinIO images: this project's machines have none of that, so here it
skips, saying what is missing. ``make e2e`` runs it; KEEP_CLUSTER=1 keeps the cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.support import (
    DIGIT_ZERO,
    REPO,
    build_image,
    container_engine,
    grpc_infer,
    require_tools,
    rest_infer,
    run,
    wait_until,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
CHART = REPO / "charts" / "modelmesh"
CLUSTER = os.environ.get("KIND_CLUSTER", "modelmesh-e2e")
NAMESPACE = "modelmesh-serving"
RELEASE = "modelmesh"
ISVC = "example-sklearn-isvc"
RUNTIME_DEPLOYMENT = "modelmesh-serving-python"
MINIO_KEYS = ("e2e-access-key", "e2e-secret-key")
BUCKET, MODEL_KEY = "modelmesh-example-models", "sklearn/mnist-svm.joblib"


@dataclass(frozen=True)
class Kube:
    """kubectl and helm against the test cluster's kubeconfig, in the test namespace."""

    kubeconfig: Path

    def kubectl(self, *args: str, check: bool = True, timeout: float = 600) -> str:
        command = ["kubectl", f"--kubeconfig={self.kubeconfig}", "-n", NAMESPACE, *args]
        return run(*command, check=check, timeout=timeout).stdout

    def helm(self, *args: str | Path, timeout: float = 900) -> str:
        helm = REPO / ".venv" / "bin" / "helm"
        command = [helm, f"--kubeconfig={self.kubeconfig}", "-n", NAMESPACE, *args]
        return run(*command, timeout=timeout).stdout

    def json(self, *args: str) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    @contextlib.contextmanager
    def port_forward(self, target: str, *ports: int) -> Iterator[dict[int, int]]:
        """Local ports forwarded to ``ports`` of ``target`` (e.g. service/minio)."""
        command = ["kubectl", f"--kubeconfig={self.kubeconfig}", "-n", NAMESPACE]
        command += ["port-forward", target, *(f":{p}" for p in ports)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            local: dict[int, int] = {}
            assert process.stdout is not None
            while len(local) < len(ports):
                line = process.stdout.readline()
                if not line:
                    raise AssertionError(f"kubectl port-forward {target} ended early")
                if match := re.search(r"127\.0\.0\.1:(\d+) -> (\d+)", line):
                    local[int(match[2])] = int(match[1])
            yield local
        finally:
            process.terminate()
            process.wait(10)


@pytest.fixture(scope="module")
def kube() -> Iterator[Kube]:
    require_tools("kind", "kubectl")
    engine = container_engine()
    kubeconfig = Path(tempfile.mkdtemp(prefix="kind-")) / "kubeconfig"
    created = CLUSTER not in run("kind", "get", "clusters").stdout.split()
    if created:
        run(
            "kind",
            "create",
            "cluster",
            "--name",
            CLUSTER,
            "--config",
            HERE / "kind-config.yaml",
            "--kubeconfig",
            kubeconfig,
            "--wait",
            "300s",
            timeout=900,
        )
    else:
        run("kind", "export", "kubeconfig", "--name", CLUSTER, "--kubeconfig", kubeconfig)
    try:
        image = build_image(engine, "modelmesh:e2e")
        run("kind", "load", "docker-image", image, "--name", CLUSTER, timeout=900)
        kube = Kube(kubeconfig)
        kube.kubectl("create", "namespace", NAMESPACE, check=False)
        yield kube
    finally:
        if created and not os.environ.get("KEEP_CLUSTER"):
            run("kind", "delete", "cluster", "--name", CLUSTER, check=False)


@pytest.fixture(scope="module")
def minio(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> None:
    """MinIO in the cluster with the example model at s3://modelmesh-example-models/..."""
    import boto3

    from tests.support.models import write_sklearn

    kube.kubectl("apply", "-f", str(HERE / "manifests" / "minio.yaml"))
    kube.kubectl("rollout", "status", "deployment/minio", "--timeout=300s")
    model = write_sklearn(tmp_path_factory.mktemp("model"))
    with kube.port_forward("service/minio", 9000) as ports:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{ports[9000]}",
            aws_access_key_id=MINIO_KEYS[0],
            aws_secret_access_key=MINIO_KEYS[1],
            region_name="us-east-1",
        )
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=BUCKET)
        s3.upload_file(str(model), BUCKET, MODEL_KEY)


@pytest.fixture(scope="module")
def release(kube: Kube, minio: None) -> str:
    image = os.environ.get("E2E_IMAGE", "modelmesh:e2e")
    repository, _, tag = image.rpartition(":")
    kube.helm(
        "upgrade",
        "--install",
        RELEASE,
        CHART,
        "-f",
        HERE / "values-e2e.yaml",
        "--set",
        f"image.repository={repository}",
        "--set",
        f"image.tag={tag}",
        "--wait",
        "--timeout",
        "10m",
    )
    return RELEASE


def test_chart_installs_a_working_mesh(kube: Kube, release: str) -> None:
    deployments = kube.json("deployments", "-l", f"app.kubernetes.io/instance={release}")
    names = {d["metadata"]["name"]: d for d in deployments["items"]}
    assert set(names) == {RUNTIME_DEPLOYMENT, f"{release}-controller"}
    for deployment in names.values():
        status = deployment["status"]
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], status
    etcd = kube.json("statefulset", f"{release}-etcd")
    assert etcd["status"].get("readyReplicas") == 1
    runtimes = kube.json("servingruntimes")
    assert [r["metadata"]["name"] for r in runtimes["items"]] == ["python"]


def test_example_inference_service_becomes_ready(kube: Kube, release: str) -> None:
    kube.kubectl("apply", "-f", str(HERE / "manifests" / "example-isvc.yaml"))
    kube.kubectl("wait", "--for=condition=Ready", f"isvc/{ISVC}", "--timeout=300s")
    isvc = kube.json("isvc", ISVC)
    assert isvc["status"]["url"].startswith("grpc://modelmesh-serving.")
    assert isvc["status"]["modelStatus"]["states"]["activeModelState"] == "Loaded"


def test_predicts_over_grpc_and_rest(kube: Kube, release: str) -> None:
    with kube.port_forward("service/modelmesh-serving", 8033, 8008) as ports:
        assert grpc_infer(f"127.0.0.1:{ports[8033]}", ISVC, DIGIT_ZERO) == [0]
        assert rest_infer(f"http://127.0.0.1:{ports[8008]}", ISVC, DIGIT_ZERO) == [0]


def test_rolling_restart_under_traffic_fails_no_request(kube: Kube, release: str) -> None:
    image = os.environ.get("E2E_IMAGE", "modelmesh:e2e")
    kube.kubectl("delete", "job", "traffic", "--ignore-not-found")
    kube.kubectl("delete", "configmap", "traffic", "--ignore-not-found")
    kube.kubectl("create", "configmap", "traffic", f"--from-file={HERE / 'traffic.py'}")
    target = f"dns:///modelmesh-serving.{NAMESPACE}:8033"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "traffic"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "traffic",
                            "image": image,
                            "imagePullPolicy": "Never",
                            "command": ["python3", "/scripts/traffic.py", target, ISVC, "240"],
                            "volumeMounts": [{"name": "scripts", "mountPath": "/scripts"}],
                        }
                    ],
                    "volumes": [{"name": "scripts", "configMap": {"name": "traffic"}}],
                }
            },
        },
    }
    manifest = Path(tempfile.mkdtemp()) / "job.json"
    manifest.write_text(json.dumps(job))
    kube.kubectl("apply", "-f", str(manifest))
    kube.kubectl("wait", "--for=condition=Ready", "pod", "-l", "job-name=traffic", "--timeout=120s")
    time.sleep(20)  # steady traffic before the restart
    kube.kubectl("rollout", "restart", f"deployment/{RUNTIME_DEPLOYMENT}")
    kube.kubectl("rollout", "status", f"deployment/{RUNTIME_DEPLOYMENT}", "--timeout=600s")
    kube.kubectl("wait", "--for=condition=complete", "job/traffic", "--timeout=600s")
    summary = json.loads(kube.kubectl("logs", "job/traffic").strip().splitlines()[-1])
    assert summary["failed"] == 0, summary["errors"]
    assert summary["ok"] > 500


def test_still_ready_and_serving_after_the_restart(kube: Kube, release: str) -> None:
    kube.kubectl("wait", "--for=condition=Ready", f"isvc/{ISVC}", "--timeout=120s")
    with kube.port_forward("service/modelmesh-serving", 8033) as ports:
        assert grpc_infer(f"127.0.0.1:{ports[8033]}", ISVC, DIGIT_ZERO) == [0]


def test_deleting_the_inference_service_unregisters_its_model(kube: Kube, release: str) -> None:
    kube.kubectl("delete", "isvc", ISVC, "--timeout=120s")
    with kube.port_forward("service/modelmesh-serving", 8033) as ports:
        cli = REPO / ".venv" / "bin" / "modelmesh"

        def gone() -> bool:
            done = run(cli, "list", "--vmodels", "--json", "--address", f"127.0.0.1:{ports[8033]}")
            return ISVC not in done.stdout

        wait_until("the vmodel to be unregistered", gone, 120, every=2)
