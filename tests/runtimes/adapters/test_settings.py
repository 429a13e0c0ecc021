"""Adapter settings from the environment: upstream's names, per-server defaults, bad values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from modelmesh.runtimes.adapters.settings import AdapterSettings

MiB = 1024 * 1024


def test_defaults_follow_each_server() -> None:
    mlserver = AdapterSettings.from_env({"ROOT_MODEL_DIR": "/models"}, "mlserver")
    assert mlserver.http_endpoint == "http://127.0.0.1:8080"
    assert mlserver.serving_address == "127.0.0.1:8001"
    assert mlserver.repository_dir == Path("/models/_mlserver_models")
    assert mlserver.management_address == "127.0.0.1:8085"
    assert (mlserver.loading_concurrency, mlserver.size_multiplier) == (1, 1.25)
    assert mlserver.default_model_size == MiB
    assert AdapterSettings.from_env({}, "triton").http_endpoint == "http://127.0.0.1:8000"
    torchserve = AdapterSettings.from_env({}, "torchserve")
    assert torchserve.http_endpoint == "http://127.0.0.1:8081"
    assert torchserve.serving_address == "127.0.0.1:7070"
    tfserving = AdapterSettings.from_env({}, "tfserving")
    assert (tfserving.http_endpoint, tfserving.serving_address) == ("", "127.0.0.1:8500")


def test_upstream_variables() -> None:
    settings = AdapterSettings.from_env(
        {
            "CONTAINER_MEM_REQ_BYTES": str(1024 * MiB),
            "MEM_BUFFER_BYTES": str(128 * MiB),
            "LOADING_CONCURRENCY": "3",
            "LOADTIME_TIMEOUT": "30000",
            "DEFAULT_MODELSIZE": "2000",
            "MODELSIZE_MULTIPLIER": "2.5",
            "LIMIT_PER_MODEL_CONCURRENCY": "4",
            "RUNTIME_VERSION": "mlserver-1.x",
            "INTERNAL_GRPC_SOCKET_PATH": "/run/adapter.sock",
            "INTERNAL_SERVING_GRPC_PORT": "9001",
            "SERVER_HTTP_ENDPOINT": "http://127.0.0.1:9000/",
            "SERVER_REPOSITORY_DIR": "/repo",
        },
        "mlserver",
    )
    assert settings.capacity_bytes == 896 * MiB
    assert settings.loading_concurrency == 3
    assert settings.loading_timeout_ms == 30000
    assert settings.default_model_size == 2000
    assert settings.size_multiplier == 2.5
    assert settings.limit_model_concurrency == 4
    assert settings.runtime_version == "mlserver-1.x"
    assert settings.management_address == "unix:/run/adapter.sock"
    assert settings.serving_address == "127.0.0.1:9001"
    assert settings.http_endpoint == "http://127.0.0.1:9000"
    assert settings.repository_dir == Path("/repo")


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"LOADING_CONCURRENCY": "two"}, "LOADING_CONCURRENCY='two' is not an integer"),
        ({"LOADING_CONCURRENCY": "0"}, "LOADING_CONCURRENCY=0 must be at least 1"),
        ({"MODELSIZE_MULTIPLIER": "-1"}, "MODELSIZE_MULTIPLIER=-1 must be more than 0"),
        ({"MODELSIZE_MULTIPLIER": "x"}, "MODELSIZE_MULTIPLIER='x' is not a number"),
        ({"INTERNAL_GRPC_PORT": "70000"}, "INTERNAL_GRPC_PORT=70000 is not a TCP port"),
        ({"SERVER_HTTP_ENDPOINT": "localhost:8080"}, "SERVER_HTTP_ENDPOINT"),
        (
            {"CONTAINER_MEM_REQ_BYTES": "100", "MEM_BUFFER_BYTES": "100"},
            "must exceed MEM_BUFFER_BYTES",
        ),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        AdapterSettings.from_env(env, "mlserver")


def test_unknown_server() -> None:
    with pytest.raises(ValueError, match="unknown server 'ovms'"):
        AdapterSettings.from_env({}, "ovms")
