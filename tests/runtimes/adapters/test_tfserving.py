"""The TF Serving adapter against ``FakeTFServing``, a stand-in: no TensorFlow Serving binary
installs on this machine (it is not on PyPI, Debian or npm), so the adapter is UNTESTED
against the real server. The fake speaks the same gRPC methods and messages
(``ModelService/HandleReloadConfigRequest`` and ``GetModelStatus``) and loads a model when
its base path holds a numbered version directory with ``saved_model.pb``. These tests check
what the adapter sends and how it reads the answers, not TF Serving's behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.adapters import tfserving_messages as tfs
from tests.runtimes.adapters.conftest import StartAdapter
from tests.support.etcd import free_ports

pytestmark = pytest.mark.fake_server


@dataclass
class FakeTFServing:
    """A stand-in for TF Serving's ModelService; records every config it was sent."""

    configs: list[dict[str, str]] = field(default_factory=list)
    states: dict[str, tuple[int, int, str]] = field(default_factory=dict)

    async def reload(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        models = {c.name: c.base_path for c in request.config.model_config_list.config}
        self.configs.append(models)
        self.states = {name: self._load(name, Path(base)) for name, base in models.items()}
        return tfs.ReloadConfigResponse()

    @staticmethod
    def _load(name: str, base: Path) -> tuple[int, int, str]:
        versions = sorted(p for p in base.iterdir() if p.name.isdigit()) if base.is_dir() else []
        if versions and (versions[-1] / "saved_model.pb").is_file():
            return tfs.AVAILABLE, 0, ""
        not_found = grpc.StatusCode.NOT_FOUND.value[0]
        return tfs.END, not_found, f"fake: no SavedModel for servable {name} under {base}"

    async def status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        name = request.model_spec.name
        if name not in self.states:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"fake: no versions of model {name}")
        state, code, message = self.states[name]
        reply = tfs.GetModelStatusResponse()
        version = reply.model_version_status.add(version=1, state=state)
        version.status.error_code = code
        version.status.error_message = message
        return reply


@pytest.fixture
async def fake_tfserving() -> AsyncIterator[tuple[FakeTFServing, int]]:
    fake = FakeTFServing()
    handlers = {
        "HandleReloadConfigRequest": grpc.unary_unary_rpc_method_handler(
            fake.reload,
            request_deserializer=tfs.ReloadConfigRequest.FromString,
            response_serializer=tfs.ReloadConfigResponse.SerializeToString,
        ),
        "GetModelStatus": grpc.unary_unary_rpc_method_handler(
            fake.status,
            request_deserializer=tfs.GetModelStatusRequest.FromString,
            response_serializer=tfs.GetModelStatusResponse.SerializeToString,
        ),
    }
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("tensorflow.serving.ModelService", handlers)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, port
    await server.stop(0)


def _saved_model(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "saved_model.pb").write_bytes(b"\x08\x01" * 500)
    (directory / "variables").mkdir()
    return directory


async def test_load_sends_the_whole_config_and_waits_until_available(
    fake_tfserving: tuple[FakeTFServing, int], start_adapter: StartAdapter
) -> None:
    fake, port = fake_tfserving
    adapter = await start_adapter("tfserving", None, INTERNAL_SERVING_GRPC_PORT=str(port))
    root = adapter.settings.models_root
    _saved_model(root / "single")  # one SavedModel: linked as version 1
    _saved_model(root / "versioned" / "3")  # already a base path
    status = await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    assert status.status == mr.RuntimeStatusResponse.READY
    assert status.methodInfos["tensorflow.serving.PredictionService/Predict"].idInjectionPath == [
        1,
        1,
    ]
    assert fake.configs == [{}]  # emptied before READY

    loaded = await adapter.stub.loadModel(
        mr.LoadModelRequest(modelId="a", modelType="tensorflow", modelPath="single")
    )
    assert loaded.sizeInBytes == int(1000 * 1.25)
    await adapter.stub.loadModel(
        mr.LoadModelRequest(modelId="b", modelType="tensorflow", modelPath="versioned")
    )
    repository = adapter.settings.repository_dir.resolve()
    assert fake.configs[-1] == {
        "a": str(repository / "a"),
        "b": str((root / "versioned").resolve()),
    }
    assert (repository / "a" / "1").resolve() == (root / "single").resolve()

    await adapter.stub.unloadModel(mr.UnloadModelRequest(modelId="a"))
    assert fake.configs[-1] == {"b": str((root / "versioned").resolve())}
    assert not (repository / "a").exists()


async def test_a_model_the_server_cannot_load_fails_with_its_message(
    fake_tfserving: tuple[FakeTFServing, int], start_adapter: StartAdapter
) -> None:
    fake, port = fake_tfserving
    adapter = await start_adapter("tfserving", None, INTERNAL_SERVING_GRPC_PORT=str(port))
    (adapter.settings.models_root / "empty" / "1").mkdir(parents=True)
    await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await adapter.stub.loadModel(
            mr.LoadModelRequest(modelId="e", modelType="tensorflow", modelPath="empty")
        )
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert "TensorFlow Serving could not load model e: fake: no SavedModel" in (
        failed.value.details() or ""
    )
    assert fake.configs[-1] == {}  # taken out of the config again
    # neither a base path nor a SavedModel: refused before the server is asked
    (adapter.settings.models_root / "plain").mkdir()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await adapter.stub.loadModel(
            mr.LoadModelRequest(modelId="p", modelType="tensorflow", modelPath="plain")
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_starting_until_the_server_answers(start_adapter: StartAdapter) -> None:
    (port,) = free_ports(1)  # nothing listens there
    adapter = await start_adapter("tfserving", None, INTERNAL_SERVING_GRPC_PORT=str(port))
    status = await adapter.stub.runtimeStatus(mr.RuntimeStatusRequest())
    assert status.status == mr.RuntimeStatusResponse.STARTING
