"""TorchScript models: traced at test time, served over gRPC, and a clear error without torch."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.python.errors import FormatUnavailable, LoadFailed
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.runtimes.conftest import Stubs
from tests.support.models import digits, write_torchscript

torch = pytest.importorskip("torch", reason="the pytorch extra is not installed")
# torch 2.13 marks TorchScript deprecated in favour of torch.export; the format reads it still
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

ROWS = digits()[0][:16]
LABELS = digits()[1][:16]


@pytest.fixture(scope="module")
def torch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("torch")
    write_torchscript(root / "linear")
    two = torch.jit.script(_TwoOutputs())
    torch.jit.save(two, str(root / "two.pt"))
    torch.save({"weights": torch.zeros(3)}, str(root / "state_dict.pt"))  # not TorchScript
    return root


class _TwoOutputs(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return a + b, a * b


@pytest.fixture
def settings(settings: RuntimeSettings, torch_root: Path) -> RuntimeSettings:
    return dataclasses.replace(settings, models_root=torch_root)


@pytest.fixture
async def loaded(stubs: Stubs) -> AsyncIterator[Stubs]:
    await stubs.management.loadModel(
        mr.LoadModelRequest(modelId="t", modelType="mt:pytorch", modelPath="linear")
    )
    yield stubs


async def test_predicts_over_grpc(loaded: Stubs) -> None:
    reply = await loaded.inference.ModelInfer(build_infer_request("t", {"input": ROWS}))
    probabilities = response_arrays(reply)["output-0"]
    assert probabilities.dtype == np.float32 and probabilities.shape == (16, 10)
    assert (probabilities.argmax(axis=1) == LABELS).mean() >= 0.75
    metadata = await loaded.inference.ModelMetadata(v2.ModelMetadataRequest(name="t"))
    assert metadata.platform == "pytorch_torchscript"


async def test_input_the_graph_cannot_take_is_invalid(loaded: Stubs) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await loaded.inference.ModelInfer(build_infer_request("t", {"x": ROWS[:, :63]}))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model t cannot take this input" in (error.value.details() or "")


async def test_named_arguments_and_several_outputs(runtime: PythonRuntime) -> None:
    await runtime.load("two", "pytorch", "two.pt", "")
    a, b = np.array([1.0, 2.0], np.float32), np.array([3.0, 4.0], np.float32)
    for inputs in ({"b": b, "a": a}, {"first": a, "second": b}):  # by name, then by position
        outputs = response_arrays(await runtime.infer(build_infer_request("two", inputs)))
        assert outputs["output-0"].tolist() == [4.0, 6.0]
        assert outputs["output-1"].tolist() == [3.0, 8.0]


async def test_sizes(runtime: PythonRuntime, torch_root: Path) -> None:
    disk = (torch_root / "linear" / "model.pt").stat().st_size
    assert runtime.predict_size("t", "pytorch", "linear", "") == max(16 * 1024, 2 * disk)
    assert await runtime.load("t", "pytorch", "linear", "") >= disk


async def test_a_torch_save_file_fails_naming_it(runtime: PythonRuntime, torch_root: Path) -> None:
    with pytest.raises(LoadFailed, match=f"failed to load pytorch model from {torch_root}"):
        await runtime.load("s", "pytorch", "state_dict.pt", "")


async def test_without_torch_the_load_says_what_to_install(
    runtime: PythonRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what an environment without it sees
    with pytest.raises(FormatUnavailable, match=r"pip install 'modelmesh\[pytorch\]'") as error:
        await runtime.load("t", "pytorch", "linear", "")
    assert error.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert not runtime.is_loaded("t")
