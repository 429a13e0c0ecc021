"""The Kubernetes API as the controller uses it: list, watch, patch, status, namespaces.

Client library: the official ``kubernetes`` package, pinned to major version 37. Its
37.x line ships ``kubernetes.aio``, an asyncio client (aiohttp) generated from the same
OpenAPI spec, so the controller stays one event loop with cancellable watch streams; its
config loaders read kubeconfig files (contexts, client certificates, exec plugins) and
in-cluster service-account credentials exactly as kubectl does. Objects stay plain dicts
(the CRDs are not in the client's models), read through ``CustomObjectsApi``.

Only reads, patches and status patches are used: never create or replace, and no
reliance on resourceVersion, uid or server-side label selection (a label selector is
sent and the result filtered again here), so the same code runs against a real API
server and against the kmock emulator of the tests. Finalizers are changed with JSON
patches guarded by a ``test`` of the list, so a concurrent change fails (and is retried)
instead of being overwritten. API errors become ``NotFound`` / ``Conflict`` / ``KubeError``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes.aio import client as k8s
from kubernetes.aio import config as k8s_config
from kubernetes.aio.client.exceptions import ApiException

log = logging.getLogger(__name__)

GROUP = "serving.kserve.io"


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    def __str__(self) -> str:
        return f"{self.plural}.{self.version}.{self.group}"


INFERENCE_SERVICES = Kind(GROUP, "v1beta1", "inferenceservices", "InferenceService")
PREDICTORS = Kind(GROUP, "v1alpha1", "predictors", "Predictor")
SERVING_RUNTIMES = Kind(GROUP, "v1alpha1", "servingruntimes", "ServingRuntime")
CLUSTER_SERVING_RUNTIMES = Kind(
    GROUP, "v1alpha1", "clusterservingruntimes", "ClusterServingRuntime", namespaced=False
)


class KubeError(Exception):
    """A call to the API server failed."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    """The object changed meanwhile (409), or a guarded patch's test failed (422)."""


async def connect(kubeconfig: str | None) -> k8s.ApiClient:
    """A client from ``kubeconfig`` if given, else in-cluster credentials if present,
    else the default kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``)."""
    configuration = k8s.Configuration()
    if kubeconfig:
        await k8s_config.load_kube_config(
            config_file=kubeconfig, client_configuration=configuration
        )
    else:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            await k8s_config.load_kube_config(client_configuration=configuration)
    return k8s.ApiClient(configuration)


def _translate(exc: ApiException, what: str) -> KubeError:
    status = exc.status or 0
    detail = exc.reason or ""
    with contextlib.suppress(ValueError, AttributeError):
        detail = json.loads(exc.body or "{}").get("message") or detail
    message = f"{what}: {status} {detail}".strip()
    if status == 404:
        return NotFound(message, status)
    if status in (409, 422):
        return Conflict(message, status)
    return KubeError(message, status)


def _as_dict(result: object) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise KubeError(f"the API server answered {type(result).__name__}, not an object")
    return result


class Kube:
    """The few API calls the controller makes, on one ``ApiClient``."""

    def __init__(self, api: k8s.ApiClient) -> None:
        self._api = api
        self._custom = k8s.CustomObjectsApi(api)
        self._core = k8s.CoreV1Api(api)

    async def close(self) -> None:
        await self._api.close()

    async def list_objects(
        self, kind: Kind, namespace: str | None
    ) -> tuple[list[dict[str, Any]], str]:
        """Every object of ``kind`` (in ``namespace``, or everywhere), and the list's
        resourceVersion to watch from ('' when the server gives none)."""
        try:
            if namespace and kind.namespaced:
                result = await self._custom.list_namespaced_custom_object(
                    kind.group, kind.version, namespace, kind.plural
                )
            else:
                result = await self._custom.list_cluster_custom_object(
                    kind.group, kind.version, kind.plural
                )
        except ApiException as exc:
            raise _translate(exc, f"list {kind}") from exc
        items = [item for item in _as_dict(result).get("items") or [] if isinstance(item, dict)]
        for item in items:  # list items carry no apiVersion/kind; watch events do
            item.setdefault("kind", kind.kind)
        version = str((_as_dict(result).get("metadata") or {}).get("resourceVersion") or "")
        return items, version

    async def watch(
        self, kind: Kind, namespace: str | None, *, since: str, timeout_s: int
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(event type, object) pairs until the server ends the stream or ``timeout_s``."""
        args: dict[str, Any] = {"watch": True, "timeout_seconds": timeout_s}
        if since:
            args["resource_version"] = since
        try:
            if namespace and kind.namespaced:
                response = await self._custom.list_namespaced_custom_object_without_preload_content(
                    kind.group, kind.version, namespace, kind.plural, **args
                )
            else:
                response = await self._custom.list_cluster_custom_object_without_preload_content(
                    kind.group, kind.version, kind.plural, **args
                )
        except ApiException as exc:
            raise _translate(exc, f"watch {kind}") from exc
        try:
            if response.status >= 400:
                body = await response.text()
                raise _translate(ApiException(status=response.status, reason=body), f"watch {kind}")
            while line := await response.content.readline():
                if not line.strip():
                    continue
                event = json.loads(line)
                kind_name, obj = event.get("type", ""), event.get("object") or {}
                if kind_name == "ERROR":
                    raise KubeError(f"watch {kind}: {obj.get('message', obj)}", obj.get("code", 0))
                yield kind_name, obj
        finally:
            response.close()

    async def patch_finalizers(
        self, kind: Kind, obj: Mapping[str, Any], finalizers: list[str]
    ) -> dict[str, Any]:
        """Set the finalizer list, failing with Conflict if it changed since ``obj``."""
        meta = obj.get("metadata") or {}
        current = meta.get("finalizers")
        ops: list[dict[str, Any]]
        if current is None:
            ops = [{"op": "add", "path": "/metadata/finalizers", "value": finalizers}]
        else:
            ops = [
                {"op": "test", "path": "/metadata/finalizers", "value": current},
                {"op": "replace", "path": "/metadata/finalizers", "value": finalizers},
            ]
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        try:
            result = await self._custom.patch_namespaced_custom_object(
                kind.group, kind.version, namespace, kind.plural, name, ops
            )
        except ApiException as exc:
            raise _translate(exc, f"patch finalizers of {kind} {namespace}/{name}") from exc
        return _as_dict(result)

    async def patch_status(
        self, kind: Kind, namespace: str, name: str, status: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch the status subresource (None values remove keys)."""
        try:
            result = await self._custom.patch_namespaced_custom_object_status(
                kind.group, kind.version, namespace, kind.plural, name, {"status": status}
            )
        except ApiException as exc:
            raise _translate(exc, f"patch status of {kind} {namespace}/{name}") from exc
        return _as_dict(result)

    async def namespaces(self, selector: Mapping[str, str]) -> set[str]:
        """Names of the namespaces carrying every label in ``selector``."""
        text = ",".join(f"{key}={value}" for key, value in selector.items())
        try:
            result = await self._core.list_namespace(label_selector=text)
        except ApiException as exc:
            raise _translate(exc, "list namespaces") from exc
        return {
            ns.metadata.name
            for ns in result.items
            if ns.metadata
            and ns.metadata.name
            and all((ns.metadata.labels or {}).get(k) == v for k, v in selector.items())
        }
