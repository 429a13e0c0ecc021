"""Every setting of the controller, read once from the environment.

- ``NAMESPACE``: the controller's own namespace (default: the service account's,
  else ``modelmesh-serving``).
- ``NAMESPACE_SCOPE``: ``true`` serves only ``NAMESPACE``; default ``false`` serves every
  namespace labelled ``modelmesh-enabled=true``.
- ``MM_ENDPOINT``: the mesh's gRPC address (default ``<service>.{namespace}:<port>``);
  ``{namespace}`` is replaced, so each namespace may have its own mesh, as upstream.
- ``INFERENCE_SERVICE_NAME`` (``modelmesh-serving``), ``INFERENCE_SERVICE_PORT`` (8033):
  the mesh's Service, for ``MM_ENDPOINT`` and the status URLs.
- ``REST_PROXY_ENABLED`` (``true``), ``REST_PROXY_PORT`` (8008): report the REST URL too.
- ``ENABLE_ISVC_WATCH`` (``true``): reconcile InferenceServices; Predictors always are,
  wherever their CRD is installed.
- ``RESYNC_PERIOD_SECONDS`` (120): full relist period, the longest a missed event waits.
- ``MM_CALL_TIMEOUT_MS`` (10000): deadline of each ModelMesh call.
- ``RECONCILE_WORKERS`` (8): objects reconciled at once.
- ``LEADER_ELECT`` (``false``): take the Lease ``modelmesh-controller-leader-lock`` in
  ``NAMESPACE`` before acting, so that only one of several replicas writes; ``POD_NAME``
  is the identity in it (default: host name and process id).
- ``KUBECONFIG``: the kubeconfig file; unset, in-cluster credentials, else
  ``~/.kube/config``.

Names follow upstream modelmesh-serving where it had one (``NAMESPACE``,
``NAMESPACE_SCOPE``, ``ENABLE_ISVC_WATCH``; ``inferenceServiceName`` and ``restProxy`` of
its ConfigMap). A bad value raises ``SettingsError`` naming the variable.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..mesh.settings import SettingsError, env_bool, env_int
from .status import Endpoints

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "modelmesh-serving"
# upstream's label for namespaces a cluster-scoped controller serves
ENABLED_NAMESPACE_LABEL = {"modelmesh-enabled": "true"}

__all__ = ["ControllerSettings", "SettingsError"]


@dataclass(frozen=True)
class ControllerSettings:
    namespace: str = DEFAULT_NAMESPACE
    namespace_scope: bool = False
    mesh_endpoint: str = "modelmesh-serving.{namespace}:8033"
    service_name: str = "modelmesh-serving"
    service_port: int = 8033
    rest_enabled: bool = True
    rest_port: int = 8008
    watch_isvcs: bool = True
    resync_s: float = 120.0
    call_timeout_s: float = 10.0
    workers: int = 8
    kubeconfig: str | None = None
    leader_elect: bool = False
    identity: str = ""

    def endpoints(self, namespace: str) -> Endpoints:
        """The URLs clients of ``namespace`` use, as the status reports them."""
        host = f"{self.service_name}.{namespace}"
        rest = f"http://{host}:{self.rest_port}" if self.rest_enabled else ""
        return Endpoints(grpc=f"grpc://{host}:{self.service_port}", rest=rest)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, account_namespace: Path = SERVICE_ACCOUNT_NAMESPACE
    ) -> ControllerSettings:
        namespace = env.get("NAMESPACE", "").strip()
        if not namespace:
            try:
                namespace = account_namespace.read_text().strip()
            except OSError:
                namespace = ""
        service = env.get("INFERENCE_SERVICE_NAME", "").strip() or "modelmesh-serving"
        port = env_int(env, "INFERENCE_SERVICE_PORT", 8033, minimum=1)
        endpoint = env.get("MM_ENDPOINT", "").strip() or f"{service}.{{namespace}}:{port}"
        return cls(
            namespace=namespace or DEFAULT_NAMESPACE,
            namespace_scope=env_bool(env, "NAMESPACE_SCOPE", False),
            mesh_endpoint=endpoint,
            service_name=service,
            service_port=port,
            rest_enabled=env_bool(env, "REST_PROXY_ENABLED", True),
            rest_port=env_int(env, "REST_PROXY_PORT", 8008, minimum=1),
            watch_isvcs=env_bool(env, "ENABLE_ISVC_WATCH", True),
            resync_s=float(env_int(env, "RESYNC_PERIOD_SECONDS", 120, minimum=1)),
            call_timeout_s=env_int(env, "MM_CALL_TIMEOUT_MS", 10_000, minimum=1) / 1000,
            workers=env_int(env, "RECONCILE_WORKERS", 8, minimum=1),
            kubeconfig=env.get("KUBECONFIG", "").strip() or None,
            leader_elect=env_bool(env, "LEADER_ELECT", False),
            identity=env.get("POD_NAME", "").strip() or f"{socket.gethostname()}-{os.getpid()}",
        )
