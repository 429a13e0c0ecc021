"""The mesh's settings: observability and HTTP ports (MM_METRICS, MM_LOG_*, REST and probes)."""

from __future__ import annotations

import pytest

from modelmesh.mesh.settings import MetricsSettings, Settings, SettingsError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", MetricsSettings()),
        ("prometheus", MetricsSettings()),
        ("disabled", MetricsSettings(enabled=False)),
        (
            "prometheus:port=9100;scheme=https;per_model_metrics;fq_names=true",
            MetricsSettings(port=9100, scheme="https", per_model=True, fq_names=True),
        ),
        # upstream's JVM memory detail switch is accepted and has nothing to do here
        ("prometheus:per_model_metrics=false;mem_detail=none", MetricsSettings()),
    ],
)
def test_mm_metrics(value: str, expected: MetricsSettings) -> None:
    assert Settings.from_env({"MM_METRICS": value}).metrics == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MM_METRICS": "statsd:port=8126"}, "expected 'disabled' or 'prometheus"),
        ({"MM_METRICS": "prometheus:port=http"}, "MM_METRICS port='http' is not an integer"),
        ({"MM_METRICS": "prometheus:port=99999"}, "MM_METRICS port=99999 is not a port"),
        ({"MM_METRICS": "prometheus:scheme=ftp"}, "scheme='ftp' must be http or https"),
        ({"MM_METRICS": "prometheus:legacy"}, r"unknown parameter\(s\) legacy"),
        ({"MM_METRICS": "prometheus:fq_names=maybe"}, "MM_METRICS fq_names='maybe'"),
        ({"MM_TLS_KEY_CERT_PATH": "/tls.crt"}, "MM_TLS_PRIVATE_KEY_PATH"),
        ({"MM_LOG_FORMAT": "xml"}, "MM_LOG_FORMAT='xml'"),
        ({"MM_LOG_EACH_INVOKE": "often"}, "MM_LOG_EACH_INVOKE"),
        ({"REST_PROXY_LISTEN_PORT": "-1"}, "REST_PROXY_LISTEN_PORT=-1 is below the minimum 0"),
        ({"MM_PROBE_PORT": "70000"}, "MM_PROBE_PORT=70000 is not a port"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_ports_default_to_upstreams_unless_the_grpc_port_is_free() -> None:
    fixed = Settings.from_env({})
    assert (fixed.http.rest_port, fixed.http.probe_port, fixed.metrics.port) == (8008, 8089, 2112)
    free = Settings.from_env({"MM_SVC_GRPC_PORT": "0"})
    assert (free.http.rest_port, free.http.probe_port, free.metrics.port) == (0, 0, 0)
    chosen = Settings.from_env(
        {"MM_SVC_GRPC_PORT": "0", "REST_PROXY_LISTEN_PORT": "9008", "MM_PROBE_PORT": "9089"}
    )
    assert (chosen.http.rest_port, chosen.http.probe_port) == (9008, 9089)


def test_log_settings() -> None:
    logs = Settings.from_env({"MM_LOG_FORMAT": "JSON", "MM_LOG_EACH_INVOKE": "true"}).logs
    assert (logs.json, logs.each_invoke) == (True, True)
    assert Settings.from_env({}).logs.json is False
