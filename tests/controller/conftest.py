"""Fixtures for controller tests: a Kubernetes API, a real mesh, the controller.

No real API server runs on this machine (TOOLCHAIN.md §4), so the Kubernetes API is
kmock's ``KubernetesEmulator``, a third-party stateful HTTP emulator on loopback: real
HTTP, CRUD, JSON and merge patches, finalizers and watch streams. Its gaps shape the
tests, never the controller: it answers a create with no body (we read objects back),
gives no resourceVersion, ignores label selectors and ``timeoutSeconds``, and cannot
serve ``/api/v1/namespaces`` (so cluster scope, which lists labelled namespaces, is not
tested end to end here; the tests run in namespace scope). The mesh is real: the
``start`` fixture of the mesh tests, with the built-in runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kmock
import pytest
from kubernetes.aio import client as k8s

from modelmesh.controller.kube import (
    CLUSTER_SERVING_RUNTIMES,
    INFERENCE_SERVICES,
    PREDICTORS,
    SERVING_RUNTIMES,
    Kind,
)
from modelmesh.controller.main import Controller, start_controller
from modelmesh.controller.settings import ControllerSettings
from tests.mesh.conftest import clients, mesh_models, start  # noqa: F401 (fixtures)

NAMESPACE = "modelmesh-serving"


@dataclass
class Api:
    """The test's own client of the emulated API server (what kubectl would do)."""

    custom: k8s.CustomObjectsApi
    url: str
    kubeconfig: Path

    async def apply(self, kind: Kind, obj: dict[str, Any]) -> None:
        obj = {"apiVersion": f"{kind.group}/{kind.version}", "kind": kind.kind, **obj}
        if kind.namespaced:
            obj["metadata"].setdefault("namespace", NAMESPACE)
            await self.custom.create_namespaced_custom_object(
                kind.group, kind.version, obj["metadata"]["namespace"], kind.plural, obj
            )
        else:
            await self.custom.create_cluster_custom_object(
                kind.group, kind.version, kind.plural, obj
            )

    async def get(self, kind: Kind, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                kind.group, kind.version, NAMESPACE, kind.plural, name
            )
        except k8s.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def patch(self, kind: Kind, name: str, patch: dict[str, Any]) -> None:
        await self.custom.patch_namespaced_custom_object(
            kind.group, kind.version, NAMESPACE, kind.plural, name, patch
        )

    async def delete(self, kind: Kind, name: str) -> None:
        await self.custom.delete_namespaced_custom_object(
            kind.group, kind.version, NAMESPACE, kind.plural, name
        )

    async def wait_for(
        self,
        kind: Kind,
        name: str,
        check: Callable[[dict[str, Any] | None], bool],
        *,
        timeout_s: float = 30.0,
    ) -> dict[str, Any] | None:
        """Poll the object until ``check`` holds; fail with its last state otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            obj = await self.get(kind, name)
            if check(obj):
                return obj
            if loop.time() > deadline:
                status = obj.get("status") if obj else "gone"
                pytest.fail(f"{kind.kind} {name} never got there; last status: {status}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with kmock.KubernetesEmulator() as emulator, kmock.Server(emulator) as server:
        for kind in (INFERENCE_SERVICES, PREDICTORS, SERVING_RUNTIMES, CLUSTER_SERVING_RUNTIMES):
            emulator.resources[f"{kind.group}/{kind.version}/{kind.plural}"] = kmock.ResourceInfo(
                namespaced=kind.namespaced, kind=kind.kind
            )
        emulator.resources.load_bundled()
        url = str(server.url).rstrip("/")
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(_kubeconfig(url))
        async with k8s.ApiClient(k8s.Configuration(host=url)) as client:
            yield Api(k8s.CustomObjectsApi(client), url, kubeconfig)


def _kubeconfig(url: str) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: emulated
  cluster: {{server: "{url}"}}
users:
- name: tester
  user: {{token: test-token}}
contexts:
- name: test
  context: {{cluster: emulated, user: tester, namespace: {NAMESPACE}}}
current-context: test
"""


StartController = Callable[..., Awaitable[Controller]]


@pytest.fixture
async def controller(api: Api) -> AsyncIterator[StartController]:
    """Start a controller in namespace scope against ``api`` and a mesh at ``address``."""
    started: list[Controller] = []

    async def _start(address: str, **env: str) -> Controller:
        settings = ControllerSettings.from_env(
            {
                "NAMESPACE": NAMESPACE,
                "NAMESPACE_SCOPE": "true",
                "MM_ENDPOINT": address,
                "KUBECONFIG": str(api.kubeconfig),
                "RESYNC_PERIOD_SECONDS": "30",
                **env,
            }
        )
        started.append(await start_controller(settings))
        return started[-1]

    yield _start
    for running in started:
        await running.stop()


def sklearn_runtime(name: str = "mlserver-1.x", **spec: Any) -> dict[str, Any]:
    """A ServingRuntime like upstream's MLServer one: multi-model, auto-selects sklearn."""
    return {
        "metadata": {"name": name},
        "spec": {
            "multiModel": True,
            "protocolVersions": ["grpc-v2"],
            "supportedModelFormats": [
                {"name": "sklearn", "version": "0", "autoSelect": True},
                {"name": "xgboost", "version": "1", "autoSelect": True},
            ],
            **spec,
        },
    }


def inference_service(name: str, storage_uri: str, fmt: str = "sklearn") -> dict[str, Any]:
    """The KServe docs' example InferenceService, in ModelMesh mode."""
    return {
        "metadata": {
            "name": name,
            "annotations": {"serving.kserve.io/deploymentMode": "ModelMesh"},
        },
        "spec": {"predictor": {"model": {"modelFormat": {"name": fmt}, "storageUri": storage_uri}}},
    }


def model_status(obj: dict[str, Any] | None) -> dict[str, Any]:
    return ((obj or {}).get("status") or {}).get("modelStatus") or {}


def is_ready(obj: dict[str, Any] | None) -> bool:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
