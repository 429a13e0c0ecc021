"""Runtime fixtures: a ``PythonRuntime`` over the session's models, and gRPC stubs to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.server import start_runtime_servers
from modelmesh.runtimes.python.settings import MiB, RuntimeSettings

CUSTOM_CLASSES = {
    "sleepy": "tests.runtimes.custom_models:SleepyModel",
    "echo": "tests.runtimes.custom_models:EchoModel",
}


def runtime_settings(models_root: Path) -> RuntimeSettings:
    return RuntimeSettings(
        models_root=models_root,
        capacity_bytes=512 * MiB,
        loading_concurrency=2,
        loading_timeout_ms=10_000,
        custom_model_classes=CUSTOM_CLASSES,
    )


@pytest.fixture
def settings(models_root: Path) -> RuntimeSettings:
    """Settings over the session's models root, with the test custom classes registered."""
    return runtime_settings(models_root)


@pytest.fixture
async def runtime(settings: RuntimeSettings) -> AsyncIterator[PythonRuntime]:
    runtime = PythonRuntime(settings)
    yield runtime
    await runtime.close()


@dataclass(frozen=True)
class Stubs:
    management: mr_grpc.ModelRuntimeStub
    inference: v2_grpc.GRPCInferenceServiceStub


@pytest.fixture
async def stubs(runtime: PythonRuntime) -> AsyncIterator[Stubs]:
    """Stubs of both servers of ``runtime``, on loopback ports picked by the OS."""
    servers = await start_runtime_servers(
        runtime, management_address="127.0.0.1:0", serving_address="127.0.0.1:0"
    )
    async with (
        grpc.aio.insecure_channel(servers.management_address) as management,
        grpc.aio.insecure_channel(servers.serving_address) as serving,
    ):
        yield Stubs(mr_grpc.ModelRuntimeStub(management), v2_grpc.GRPCInferenceServiceStub(serving))
    await servers.stop(None)
