"""Every setting of the mesh, read once from the environment (upstream's variable names).

Nothing else in mesh/ reads ``os.environ``: code gets these dataclasses as arguments.
A bad value raises ``SettingsError`` naming the variable. The built-in runtime reads its
own variables in ``runtimes/python/settings.py``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MIB = 1024 * 1024


class SettingsError(ValueError):
    """A configuration variable has a value the mesh cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below the minimum {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (true/false)")


@dataclass(frozen=True)
class GrpcSettings:
    port: int = 8033
    host: str = "0.0.0.0"
    max_message_bytes: int = 16 * MIB
    max_header_bytes: int = 32 * 1024


@dataclass(frozen=True)
class KvSettings:
    """``KV_STORE``: unset or ``embedded[:<file>]`` for one machine; ``etcd:...`` later."""

    kind: Literal["embedded", "etcd"] = "embedded"
    # embedded: the store's file; etcd: the connection string as given
    target: str = ""
    prefix: str = "mm"
    service_name: str = "modelmesh-serving"


@dataclass(frozen=True)
class RuntimeEndpoint:
    """``MM_RUNTIME``: ``builtin`` runs the Python runtime in-process (no hop on a local
    hit); ``grpc`` drives any upstream-compatible runtime over ModelRuntime."""

    kind: Literal["builtin", "grpc"] = "builtin"
    # grpc target of ModelRuntime ("localhost:8085" or "unix:/path")
    management: str = "localhost:8085"
    # grpc target of the runtime's inference service
    serving: str = "localhost:8001"
    # how long to wait for the runtime to report READY at start-up
    startup_timeout_s: float = 180.0


@dataclass(frozen=True)
class DataplaneMethod:
    # field-number path of the string holding the model id in the request
    id_path: tuple[int, ...]
    # the id names a vmodel (falling back to a model of that id)
    vmodel: bool = True


# Upstream modelmesh-serving's default: clients set model_name and nothing else.
DEFAULT_DATAPLANE: dict[str, DataplaneMethod] = {
    "/inference.GRPCInferenceService/ModelInfer": DataplaneMethod((1,)),
    "/inference.GRPCInferenceService/ModelMetadata": DataplaneMethod((1,)),
    "/inference.GRPCInferenceService/ModelReady": DataplaneMethod((1,)),
    "/tensorflow.serving.PredictionService/Predict": DataplaneMethod((1, 1)),
    "/org.pytorch.serve.grpc.inference.InferenceAPIsService/Predictions": DataplaneMethod((1,)),
}


@dataclass(frozen=True)
class CacheSettings:
    # how long a failed load keeps this instance from retrying that model
    load_failure_expiry_ms: int = 15 * 60 * 1000
    # registerModel(loadNow) stamps lastUsed this far back, so a fresh registration
    # does not evict models that were used recently (upstream: one hour)
    new_model_age_ms: int = 60 * 60 * 1000


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".modelmesh")
    instance_id: str = ""
    labels: frozenset[str] = frozenset()
    grpc: GrpcSettings = field(default_factory=GrpcSettings)
    kv: KvSettings = field(default_factory=KvSettings)
    runtime: RuntimeEndpoint = field(default_factory=RuntimeEndpoint)
    cache: CacheSettings = field(default_factory=CacheSettings)
    dataplane: Mapping[str, DataplaneMethod] = field(default_factory=lambda: DEFAULT_DATAPLANE)
    allow_other_rpcs: bool = True
    shutdown_timeout_s: float = 90.0
    # the environment as given, for the built-in runtime's own settings
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        data_dir = Path(env.get("MM_DATA_DIR", "").strip() or ".modelmesh")
        port = _int(env, "MM_SVC_GRPC_PORT", 8033)
        dataplane, allow_other = _dataplane(env)
        return cls(
            data_dir=data_dir,
            instance_id=_instance_id(env, port),
            labels=frozenset(x.strip() for x in env.get("MM_LABELS", "").split(",") if x.strip()),
            grpc=GrpcSettings(
                port=port,
                max_message_bytes=_int(env, "MM_SVC_GRPC_MAX_MSG_SIZE", 16 * MIB, minimum=1024),
                max_header_bytes=_int(env, "MM_SVC_GRPC_MAX_HEADERS_SIZE", 32 * 1024, minimum=1024),
            ),
            kv=_kv(env, data_dir),
            runtime=_runtime(env),
            cache=CacheSettings(
                load_failure_expiry_ms=_int(env, "MM_LOAD_FAILURE_EXPIRY_TIME_MS", 15 * 60 * 1000),
            ),
            dataplane=dataplane,
            allow_other_rpcs=allow_other,
            shutdown_timeout_s=_int(env, "SHUTDOWN_TIMEOUT_MS", 90_000) / 1000,
            environ=dict(env),
        )


def _instance_id(env: Mapping[str, str], port: int) -> str:
    pod = env.get("WKUBE_POD_NAME", "").strip()
    if pod:
        return pod[-12:]  # upstream: the pod name's random suffix
    return f"{socket.gethostname()[:24]}-{port}"


def _kv(env: Mapping[str, str], data_dir: Path) -> KvSettings:
    raw = env.get("KV_STORE", "").strip()
    prefix = env.get("MM_KVSTORE_PREFIX", "").strip() or "mm"
    service = env.get("MM_SERVICE_NAME", "").strip() or "modelmesh-serving"
    kind, _, target = raw.partition(":")
    if not raw or kind == "embedded":
        return KvSettings("embedded", target or str(data_dir / "kv.sqlite3"), prefix, service)
    if kind == "etcd":
        return KvSettings("etcd", target, prefix, service)
    raise SettingsError(
        f"KV_STORE={raw!r}: expected 'embedded[:<file>]' or 'etcd:<endpoints|file>'"
    )


def _runtime(env: Mapping[str, str]) -> RuntimeEndpoint:
    kind = env.get("MM_RUNTIME", "").strip() or "builtin"
    if kind not in ("builtin", "grpc"):
        raise SettingsError(f"MM_RUNTIME={kind!r}: expected 'builtin' or 'grpc'")
    sock = env.get("INTERNAL_GRPC_SOCKET_PATH", "").strip()
    management = f"unix:{sock}" if sock else f"localhost:{_int(env, 'INTERNAL_GRPC_PORT', 8085)}"
    serving_sock = env.get("INTERNAL_SERVING_GRPC_SOCKET_PATH", "").strip()
    if serving_sock:
        serving = f"unix:{serving_sock}"
    elif env.get("INTERNAL_SERVING_GRPC_PORT", "").strip():
        serving = f"localhost:{_int(env, 'INTERNAL_SERVING_GRPC_PORT', 8001)}"
    else:
        serving = management  # upstream: one endpoint serves both unless told otherwise
    return RuntimeEndpoint(kind, management, serving)  # type: ignore[arg-type]


def _dataplane(env: Mapping[str, str]) -> tuple[dict[str, DataplaneMethod], bool]:
    """``MM_DATAPLANE_CONFIG[_PATH]``: {"rpcConfigs": {"svc/method": {"idExtractionPath": [..],
    "vModelId": bool}}, "allowOtherRpcs": bool}; unset means upstream serving's default."""
    raw = env.get("MM_DATAPLANE_CONFIG", "").strip()
    path = env.get("MM_DATAPLANE_CONFIG_PATH", "").strip()
    if path and not raw:
        try:
            raw = Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"MM_DATAPLANE_CONFIG_PATH={path!r}: {exc.strerror}") from None
    if not raw:
        return dict(DEFAULT_DATAPLANE), True
    try:
        doc = json.loads(raw)
        methods = {
            "/" + name.lstrip("/"): DataplaneMethod(
                tuple(int(n) for n in cfg["idExtractionPath"]), bool(cfg.get("vModelId", False))
            )
            for name, cfg in doc.get("rpcConfigs", {}).items()
        }
        return methods, bool(doc.get("allowOtherRpcs", True))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SettingsError(f"MM_DATAPLANE_CONFIG is not valid: {exc}") from None
