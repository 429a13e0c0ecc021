"""Runtime settings from the environment: upstream names, defaults, and named errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelmesh.runtimes.python.settings import MiB, RuntimeSettings


def test_defaults() -> None:
    settings = RuntimeSettings.from_env({})
    quarter = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    assert settings == RuntimeSettings(
        models_root=Path(".modelmesh/models"),
        capacity_bytes=quarter - 256 * MiB,
        loading_concurrency=2,
        loading_timeout_ms=90_000,
        default_model_size=MiB,
        management_address="127.0.0.1:8085",
        serving_address="127.0.0.1:8001",
        max_message_bytes=16 * MiB,
        custom_model_classes={},
    )
    assert RuntimeSettings() == settings


def test_upstream_names() -> None:
    settings = RuntimeSettings.from_env(
        {
            "ROOT_MODEL_DIR": "/models",
            "CONTAINER_MEM_REQ_BYTES": str(2048 * MiB),
            "MEM_BUFFER_BYTES": str(128 * MiB),
            "LOADING_CONCURRENCY": "4",
            "LOADTIME_TIMEOUT": "30000",
            "DEFAULT_MODELSIZE": "2000000",
            "INTERNAL_GRPC_PORT": "9085",
            "INTERNAL_SERVING_GRPC_SOCKET_PATH": "/tmp/serving.sock",
            "MM_SVC_GRPC_MAX_MSG_SIZE": str(64 * MiB),
            "MM_CUSTOM_MODEL_CLASSES": " A=pkg.mod:A , b=pkg.other:B,",
        }
    )
    assert settings.models_root == Path("/models")
    assert settings.capacity_bytes == 1920 * MiB
    assert (settings.loading_concurrency, settings.loading_timeout_ms) == (4, 30_000)
    assert settings.default_model_size == 2_000_000
    assert settings.management_address == "127.0.0.1:9085"
    assert settings.serving_address == "unix:/tmp/serving.sock"
    assert settings.max_message_bytes == 64 * MiB
    assert settings.custom_model_classes == {"a": "pkg.mod:A", "b": "pkg.other:B"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LOADING_CONCURRENCY": "two"}, "LOADING_CONCURRENCY='two' is not an integer"),
        ({"LOADING_CONCURRENCY": "0"}, "LOADING_CONCURRENCY=0 must be at least 1"),
        ({"LOADTIME_TIMEOUT": "-5"}, "LOADTIME_TIMEOUT=-5 must be at least 1"),
        ({"MEM_BUFFER_BYTES": "1.5"}, "MEM_BUFFER_BYTES='1.5' is not an integer"),
        ({"INTERNAL_SERVING_GRPC_PORT": "70000"}, "INTERNAL_SERVING_GRPC_PORT=70000 is not a"),
        (
            {"CONTAINER_MEM_REQ_BYTES": "100", "MEM_BUFFER_BYTES": "100"},
            "CONTAINER_MEM_REQ_BYTES (100) must exceed MEM_BUFFER_BYTES (100)",
        ),
        ({"MM_CUSTOM_MODEL_CLASSES": "t=pkg.mod"}, "MM_CUSTOM_MODEL_CLASSES: 't=pkg.mod' is not"),
        ({"MM_CUSTOM_MODEL_CLASSES": "pkg.mod:C"}, "MM_CUSTOM_MODEL_CLASSES: 'pkg.mod:C' is not"),
        ({"MM_CUSTOM_MODEL_CLASSES": "t=a:B,T=c:D"}, "model type 'T' is given twice"),
    ],
)
def test_bad_values_name_their_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as error:
        RuntimeSettings.from_env(environ)
    assert message in str(error.value)
