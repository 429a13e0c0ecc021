"""Custom Python models: registration by setting, serving, errors, and the documented example."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.python import custom
from modelmesh.runtimes.python.custom import import_classes
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.runtimes.conftest import Stubs, runtime_settings
from tests.runtimes.custom_models import EchoModel


@pytest.fixture
def settings(tmp_path: Path) -> RuntimeSettings:
    """Runtime settings over a root of this test's own, holding an echo model."""
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "factor.txt").write_text("3")
    return runtime_settings(tmp_path)


@pytest.fixture
def echo_path() -> str:
    return "echo/factor.txt"


async def test_a_custom_model_end_to_end(stubs: Stubs, echo_path: str) -> None:
    loaded = await stubs.management.loadModel(
        mr.LoadModelRequest(modelId="e1", modelType="mt:echo", modelPath=echo_path)
    )
    assert loaded.sizeInBytes == 123_456  # the model's own size_bytes()
    request = build_infer_request("e1", {"x": np.array([1.0, 2.5])}, raw=False)
    request.parameters["mode"].string_param = "fast"
    request.parameters["n"].int64_param = 2
    got = response_arrays(await stubs.inference.ModelInfer(request))
    np.testing.assert_array_equal(got["y"], [3.0, 7.5])
    assert list(got["parameters"]) == [b"mode='fast'", b"n=2"]
    metadata = await stubs.inference.ModelMetadata(v2.ModelMetadataRequest(name="e1"))
    assert metadata.platform == "custom"
    assert [(t.name, t.datatype) for t in metadata.outputs] == [("y", "FP64"), ("thread", "BYTES")]


async def test_custom_model_errors_map_to_codes(
    stubs: Stubs, echo_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    await stubs.management.loadModel(
        mr.LoadModelRequest(modelId="e1", modelType="echo", modelPath=echo_path)
    )
    cases = [
        ({"bad": np.zeros(1)}, [], grpc.StatusCode.INVALID_ARGUMENT, "an input named bad"),
        ({"crash": np.zeros(1)}, [], grpc.StatusCode.INTERNAL, "the model fell over"),
        ({"x": np.zeros(1)}, ["z"], grpc.StatusCode.INVALID_ARGUMENT, "has no output 'z'"),
    ]
    for inputs, outputs, code, message in cases:
        request = build_infer_request("e1", inputs)
        for name in outputs:
            request.outputs.add(name=name)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stubs.inference.ModelInfer(request)
        assert error.value.code() == code
        assert message in error.value.details()
    # the unexpected one was logged with its traceback; the others are the caller's business
    [logged] = [r.exc_info[1] for r in caplog.records if r.exc_info]
    assert str(logged) == "the model fell over"
    # and the runtime still serves
    request = build_infer_request("e1", {"x": np.ones(2)})
    request.outputs.add(name="y")
    assert list(response_arrays(await stubs.inference.ModelInfer(request))) == ["y"]


async def test_cheap_models_predict_inline_after_their_first_call(
    runtime: PythonRuntime, echo_path: str
) -> None:
    await runtime.load("e1", "echo", echo_path, "")
    request = build_infer_request("e1", {"x": np.ones(2)})
    threads = [response_arrays(await runtime.infer(request))["thread"][0] for _ in range(3)]
    assert threads[0].startswith(b"predict")  # nothing known yet: a thread
    assert threads[1:] == [b"MainThread"] * 2  # microseconds each: inline
    big = build_infer_request("e1", {"x": np.ones(100_000)})
    assert response_arrays(await runtime.infer(big))["thread"][0].startswith(b"predict")


def _documented_example() -> str:
    doc = custom.__doc__ or ""
    block = doc.split("A complete example, ``mymodels/text.py``::", 1)[1].split("\nRules", 1)[0]
    return "\n".join(line.removeprefix("    ") for line in block.splitlines())


async def test_the_documented_example_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "code" / "mymodels"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "text.py").write_text(_documented_example())
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    monkeypatch.delitem(sys.modules, "mymodels", raising=False)
    (tmp_path / "models" / "kw").mkdir(parents=True)
    (tmp_path / "models" / "kw" / "keywords.txt").write_text("cat dog fish")
    environ = {
        "ROOT_MODEL_DIR": str(tmp_path / "models"),
        "MM_CUSTOM_MODEL_CLASSES": "keyword-counter=mymodels.text:KeywordCounter",
    }
    runtime = PythonRuntime(RuntimeSettings.from_env(environ))
    try:
        size = await runtime.load("k1", "keyword-counter", "kw", "")
        assert size == 16 * 1024  # its own small count, floored
        texts = np.array([b"a cat and a dog", b"no pets", b"fish"], dtype=object)
        reply = await runtime.infer(build_infer_request("k1", {"text": texts}))
        np.testing.assert_array_equal(response_arrays(reply)["count"], [2, 0, 1])
    finally:
        await runtime.close()


def test_import_errors_name_the_setting() -> None:
    with pytest.raises(ValueError, match=r"MM_CUSTOM_MODEL_CLASSES: cannot import no\.such:Cls"):
        import_classes({"t": "no.such:Cls"})
    with pytest.raises(ValueError, match=r"cannot import tests\.runtimes\.custom_models:Nope"):
        import_classes({"t": "tests.runtimes.custom_models:Nope"})
    with pytest.raises(ValueError, match=re.escape("pathlib:Path (model type 't') is not a")):
        import_classes({"t": "pathlib:Path"})
    assert import_classes({"t": "tests.runtimes.custom_models:EchoModel"}) == {"t": EchoModel}
