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


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
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


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
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
class ClusterSettings:
    # the host peers reach this instance at (upstream: the pod IP, WKUBE_POD_IPADDR)
    advertise_host: str = "127.0.0.1"
    location: str = ""
    zone: str = ""
    # the instance record's lease: a dead instance vanishes this long after its last refresh
    lease_ttl_s: float = 10.0
    # the leader drops copies of an instance gone this long (upstream: 10 min)
    instance_gone_after_ms: int = 10 * 60 * 1000
    # how often the leader's reaper and every instance's janitor run (upstream: 7 and 6 min)
    reaper_interval_s: float = 7 * 60.0
    janitor_interval_s: float = 6 * 60.0
    # requests per minute per copy above which a model gets another copy
    scaleup_rpm_threshold: int = 2000


@dataclass(frozen=True)
class MetricsSettings:
    """``MM_METRICS``: ``disabled``, or ``prometheus`` with ``;``-separated parameters
    ``port=2112``, ``scheme=http|https``, ``per_model_metrics``, ``fq_names`` (upstream's)."""

    enabled: bool = True
    # 0 picks a free port
    port: int = 2112
    scheme: Literal["http", "https"] = "http"
    # modelId/vModelId labels on the per-request and per-model metrics
    per_model: bool = False
    # method labels as "pkg.Service/Method" instead of "Method"
    fq_names: bool = False


@dataclass(frozen=True)
class HttpSettings:
    """The HTTP ports beside the gRPC one; 0 picks a free port."""

    host: str = "0.0.0.0"
    # KServe V2 REST (upstream's rest-proxy variable REST_PROXY_LISTEN_PORT)
    rest_port: int = 8008
    # /ready and /live (MM_PROBE_PORT)
    probe_port: int = 8089


@dataclass(frozen=True)
class TlsSettings:
    """TLS on the gRPC and REST ports and between instances (upstream's ``MM_TLS_*``); off
    unless a certificate is given. The files are re-read when they change (``mesh/tls.py``)."""

    # MM_TLS_KEY_CERT_PATH, MM_TLS_PRIVATE_KEY_PATH: this instance's PEM chain and key
    cert_path: str = ""
    key_path: str = ""
    # MM_TLS_TRUST_CERT_PATH: CAs that client certificates and peers' certificates must
    # chain to; unset: peers are checked against this instance's own certificate
    trust_path: str = ""
    # MM_TLS_CLIENT_AUTH: none | optional | require (client certificates)
    client_auth: Literal["none", "optional", "require"] = "none"
    # MM_TLS_PEER_SERVER_NAME: the name peers' certificates are checked against, when
    # they do not carry the address peers are called at (pod IPs)
    peer_server_name: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_path)


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on the inference path; past one, a request gets RESOURCE_EXHAUSTED naming it.
    0 means unbounded."""

    # MM_MAX_INFLIGHT_REQUESTS: inference requests in this instance at once, waiting included
    inflight_per_instance: int = 2000
    # MM_MAX_INFLIGHT_PER_MODEL_COPY: requests running on one copy at once; more wait
    inflight_per_copy: int = 0
    # MM_MAX_QUEUE_PER_MODEL_COPY: requests waiting for one copy
    queue_per_copy: int = 100
    # MM_MAX_LOAD_QUEUE: loads waiting for a loading slot on this instance
    load_queue: int = 200


@dataclass(frozen=True)
class LogSettings:
    # MM_LOG_FORMAT=json: one JSON object per line; else plain text
    json: bool = False
    # MM_LOG_EACH_INVOKE: an access line per inference request
    each_invoke: bool = False


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".modelmesh")
    instance_id: str = ""
    labels: frozenset[str] = frozenset()
    grpc: GrpcSettings = field(default_factory=GrpcSettings)
    kv: KvSettings = field(default_factory=KvSettings)
    runtime: RuntimeEndpoint = field(default_factory=RuntimeEndpoint)
    cache: CacheSettings = field(default_factory=CacheSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    dataplane: Mapping[str, DataplaneMethod] = field(default_factory=lambda: DEFAULT_DATAPLANE)
    allow_other_rpcs: bool = True
    shutdown_timeout_s: float = 90.0
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    logs: LogSettings = field(default_factory=LogSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    # the environment as given, for the built-in runtime's own settings
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        data_dir = Path(env.get("MM_DATA_DIR", "").strip() or ".modelmesh")
        port = env_int(env, "MM_SVC_GRPC_PORT", 8033)
        dataplane, allow_other = _dataplane(env)
        return cls(
            data_dir=data_dir,
            instance_id=_instance_id(env, port),
            labels=frozenset(x.strip() for x in env.get("MM_LABELS", "").split(",") if x.strip()),
            grpc=GrpcSettings(
                port=port,
                max_message_bytes=env_int(env, "MM_SVC_GRPC_MAX_MSG_SIZE", 16 * MIB, minimum=1024),
                max_header_bytes=env_int(
                    env, "MM_SVC_GRPC_MAX_HEADERS_SIZE", 32 * 1024, minimum=1024
                ),
            ),
            kv=_kv(env, data_dir),
            runtime=_runtime(env),
            cache=CacheSettings(
                load_failure_expiry_ms=env_int(
                    env, "MM_LOAD_FAILURE_EXPIRY_TIME_MS", 15 * 60 * 1000
                ),
            ),
            cluster=ClusterSettings(
                advertise_host=env.get("WKUBE_POD_IPADDR", "").strip() or "127.0.0.1",
                location=env.get("MM_LOCATION", "").strip(),
                zone=env.get("MM_ZONE", "").strip(),
                lease_ttl_s=env_int(env, "MM_INSTANCE_LEASE_TTL_MS", 10_000, minimum=1000) / 1000,
                instance_gone_after_ms=env_int(env, "MM_ASSUME_INSTANCE_GONE_AFTER_MS", 600_000),
                reaper_interval_s=env_int(env, "MM_REAPER_INTERVAL_MS", 420_000, minimum=100)
                / 1000,
                janitor_interval_s=env_int(env, "MM_JANITOR_INTERVAL_MS", 360_000, minimum=100)
                / 1000,
                scaleup_rpm_threshold=env_int(env, "MM_SCALEUP_RPM_THRESHOLD", 2000, minimum=1),
            ),
            dataplane=dataplane,
            allow_other_rpcs=allow_other,
            shutdown_timeout_s=env_int(env, "SHUTDOWN_TIMEOUT_MS", 90_000) / 1000,
            # an instance on a free gRPC port (tests, several in one process) takes free
            # ports for REST, probes and metrics too, unless they are set
            metrics=_metrics(env, default_port=2112 if port else 0),
            http=HttpSettings(
                rest_port=_port(env, "REST_PROXY_LISTEN_PORT", 8008 if port else 0),
                probe_port=_port(env, "MM_PROBE_PORT", 8089 if port else 0),
            ),
            logs=_logs(env),
            tls=_tls(env),
            limits=LimitSettings(
                inflight_per_instance=env_int(env, "MM_MAX_INFLIGHT_REQUESTS", 2000),
                inflight_per_copy=env_int(env, "MM_MAX_INFLIGHT_PER_MODEL_COPY", 0),
                queue_per_copy=env_int(env, "MM_MAX_QUEUE_PER_MODEL_COPY", 100),
                load_queue=env_int(env, "MM_MAX_LOAD_QUEUE", 200),
            ),
            environ=dict(env),
        )


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = env_int(env, name, default)
    if port > 65535:
        raise SettingsError(f"{name}={port} is not a port (0-65535; 0 picks a free one)")
    return port


def _metrics(env: Mapping[str, str], *, default_port: int) -> MetricsSettings:
    raw = env.get("MM_METRICS", "").strip()
    if raw == "disabled":
        return MetricsSettings(enabled=False)
    kind, _, params = raw.partition(":")
    if kind not in ("", "prometheus"):
        raise SettingsError(f"MM_METRICS={raw!r}: expected 'disabled' or 'prometheus[:port=N;...]'")
    values: dict[str, str] = {}
    for param in filter(None, (p.strip() for p in params.split(";"))):
        name, sep, value = param.partition("=")
        # upstream writes flags as name=true; a bare name means the same
        values[name.strip()] = value.strip().lower() if sep else "true"
    unknown = set(values) - {"port", "scheme", "per_model_metrics", "fq_names", "mem_detail"}
    if unknown:
        raise SettingsError(
            f"MM_METRICS: unknown parameter(s) {', '.join(sorted(unknown))}; "
            "known: port, scheme, per_model_metrics, fq_names"
        )
    scheme = values.get("scheme", "http")
    if scheme not in ("http", "https"):
        raise SettingsError(f"MM_METRICS: scheme={scheme!r} must be http or https")
    # the parameters, checked by the same rules as variables, named "MM_METRICS <param>"
    named = {f"MM_METRICS {name}": value for name, value in values.items()}
    return MetricsSettings(
        port=_port(named, "MM_METRICS port", default_port),
        scheme=scheme,  # type: ignore[arg-type]
        per_model=env_bool(named, "MM_METRICS per_model_metrics", False),
        fq_names=env_bool(named, "MM_METRICS fq_names", False),
    )


def _tls(env: Mapping[str, str]) -> TlsSettings:
    cert = env.get("MM_TLS_KEY_CERT_PATH", "").strip()
    key = env.get("MM_TLS_PRIVATE_KEY_PATH", "").strip()
    trust = env.get("MM_TLS_TRUST_CERT_PATH", "").strip()
    auth = env.get("MM_TLS_CLIENT_AUTH", "").strip().lower() or "none"
    if auth not in ("none", "optional", "require"):
        raise SettingsError(f"MM_TLS_CLIENT_AUTH={auth!r}: expected none, optional or require")
    if bool(cert) != bool(key):
        raise SettingsError("set both MM_TLS_KEY_CERT_PATH and MM_TLS_PRIVATE_KEY_PATH, or neither")
    if env.get("MM_TLS_PRIVATE_KEY_PASSPHRASE", "").strip():
        raise SettingsError(
            "MM_TLS_PRIVATE_KEY_PASSPHRASE is not supported: give an unencrypted key "
            "(a mounted Secret) in MM_TLS_PRIVATE_KEY_PATH"
        )
    if auth != "none" and not (cert and trust):
        raise SettingsError(
            f"MM_TLS_CLIENT_AUTH={auth} needs TLS (MM_TLS_KEY_CERT_PATH) and the CAs client "
            "certificates are checked against (MM_TLS_TRUST_CERT_PATH)"
        )
    return TlsSettings(
        cert_path=cert,
        key_path=key,
        trust_path=trust,
        client_auth=auth,  # type: ignore[arg-type]
        peer_server_name=env.get("MM_TLS_PEER_SERVER_NAME", "").strip(),
    )


def _logs(env: Mapping[str, str]) -> LogSettings:
    fmt = env.get("MM_LOG_FORMAT", "").strip().lower() or "text"
    if fmt not in ("text", "json"):
        raise SettingsError(f"MM_LOG_FORMAT={fmt!r}: expected 'text' or 'json'")
    return LogSettings(json=fmt == "json", each_invoke=env_bool(env, "MM_LOG_EACH_INVOKE", False))


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
    management = f"unix:{sock}" if sock else f"localhost:{env_int(env, 'INTERNAL_GRPC_PORT', 8085)}"
    serving_sock = env.get("INTERNAL_SERVING_GRPC_SOCKET_PATH", "").strip()
    if serving_sock:
        serving = f"unix:{serving_sock}"
    elif env.get("INTERNAL_SERVING_GRPC_PORT", "").strip():
        serving = f"localhost:{env_int(env, 'INTERNAL_SERVING_GRPC_PORT', 8001)}"
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
