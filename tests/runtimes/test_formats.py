"""Each built-in format end to end over real gRPC: load, infer, metadata, unload."""

from __future__ import annotations

from pathlib import Path

import grpc
import joblib
import lightgbm
import numpy as np
import onnxruntime
import pytest
import xgboost

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.python.sizing import MIN_MODEL_BYTES
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.runtimes.conftest import Stubs
from tests.support.models import digits

FORMATS = ["sklearn", "xgboost", "lightgbm", "onnx"]


def library_outputs(fmt: str, path: Path, rows: np.ndarray) -> dict[str, np.ndarray]:
    """What the format's own library predicts for ``rows``, named as the runtime names it."""
    if fmt == "sklearn":
        return {"predict": np.asarray(joblib.load(path).predict(rows))}
    if fmt == "xgboost":
        return {"predict": xgboost.Booster(model_file=str(path)).predict(xgboost.DMatrix(rows))}
    if fmt == "lightgbm":
        return {"predict": np.asarray(lightgbm.Booster(model_file=str(path)).predict(rows))}
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": rows}), strict=True))


async def _load(stubs: Stubs, model_id: str, fmt: str, path: str) -> int:
    reply = await stubs.management.loadModel(
        mr.LoadModelRequest(modelId=model_id, modelType=fmt, modelPath=path)
    )
    return int(reply.sizeInBytes)


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "typed"])
@pytest.mark.parametrize("fmt", FORMATS)
async def test_predictions_equal_the_librarys(
    stubs: Stubs, models_root: Path, model_paths: dict[str, str], fmt: str, raw: bool
) -> None:
    assert await _load(stubs, "m1", fmt, model_paths[fmt]) >= MIN_MODEL_BYTES
    features, labels = digits()
    rows = features[100:140]
    reply = await stubs.inference.ModelInfer(
        build_infer_request("m1", {"input-0": rows}, raw=raw, request_id="r7")
    )
    assert (reply.model_name, reply.id) == ("m1", "r7")
    assert bool(reply.raw_output_contents) is raw
    got = response_arrays(reply)
    expected = library_outputs(fmt, models_root / model_paths[fmt], rows)
    assert list(got) == list(expected)
    for name, array in expected.items():
        np.testing.assert_allclose(got[name], array, rtol=1e-6)
    # and the models are real: they mostly recognise the digits
    scores = got.get("predict", got.get("label"))
    assert scores is not None
    predicted = scores if scores.ndim == 1 else scores.argmax(axis=1)
    assert (predicted == labels[100:140]).mean() > 0.8


@pytest.mark.parametrize(
    ("fmt", "platform", "outputs"),
    [
        ("sklearn", "sklearn", {"predict": ("INT64", [-1]), "predict_proba": ("FP32", [-1, 10])}),
        ("xgboost", "xgboost", {"predict": ("FP32", [-1, 10])}),
        ("lightgbm", "lightgbm", {"predict": ("FP64", [-1, 10])}),
        ("onnx", "onnx", {"label": ("INT64", [-1]), "probabilities": ("FP32", [-1, 10])}),
    ],
)
async def test_model_metadata(
    stubs: Stubs,
    model_paths: dict[str, str],
    fmt: str,
    platform: str,
    outputs: dict[str, tuple[str, list[int]]],
) -> None:
    await _load(stubs, "m1", fmt, model_paths[fmt])
    metadata = await stubs.inference.ModelMetadata(v2.ModelMetadataRequest(name="m1"))
    assert (metadata.name, metadata.platform) == ("m1", platform)
    assert [(t.datatype, list(t.shape)) for t in metadata.inputs] == [("FP32", [-1, 64])]
    assert {t.name: (t.datatype, list(t.shape)) for t in metadata.outputs} == outputs


@pytest.mark.parametrize("fmt", FORMATS)
async def test_unloaded_models_are_not_found(
    stubs: Stubs, model_paths: dict[str, str], fmt: str
) -> None:
    await _load(stubs, "m1", fmt, model_paths[fmt])
    assert (await stubs.inference.ModelReady(v2.ModelReadyRequest(name="m1"))).ready
    await stubs.management.unloadModel(mr.UnloadModelRequest(modelId="m1"))
    assert not (await stubs.inference.ModelReady(v2.ModelReadyRequest(name="m1"))).ready
    with pytest.raises(grpc.aio.AioRpcError) as infer:
        await stubs.inference.ModelInfer(build_infer_request("m1", {"x": digits()[0][:1]}))
    assert infer.value.code() == grpc.StatusCode.NOT_FOUND
    assert infer.value.details() == "model m1 is not loaded"
    with pytest.raises(grpc.aio.AioRpcError) as size:
        await stubs.management.modelSize(mr.ModelSizeRequest(modelId="m1"))
    assert size.value.code() == grpc.StatusCode.NOT_FOUND
    # unloading again is a no-op
    await stubs.management.unloadModel(mr.UnloadModelRequest(modelId="m1"))


async def test_sklearn_probabilities_only_when_asked(
    stubs: Stubs, models_root: Path, model_paths: dict[str, str]
) -> None:
    await _load(stubs, "m1", "sklearn", model_paths["sklearn"])
    rows = digits()[0][:3]
    request = build_infer_request("m1", {"input-0": rows})
    request.outputs.add(name="predict_proba")
    got = response_arrays(await stubs.inference.ModelInfer(request))
    estimator = joblib.load(models_root / model_paths["sklearn"])
    assert list(got) == ["predict_proba"]
    np.testing.assert_allclose(got["predict_proba"], estimator.predict_proba(rows))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_unknown_requested_output_is_invalid(
    stubs: Stubs, model_paths: dict[str, str], fmt: str
) -> None:
    await _load(stubs, "m1", fmt, model_paths[fmt])
    request = build_infer_request("m1", {"input-0": digits()[0][:1]})
    request.outputs.add(name="nope")
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stubs.inference.ModelInfer(request)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model m1 has no output 'nope'" in error.value.details()


async def test_onnx_inputs_by_position_and_cast(stubs: Stubs, model_paths: dict[str, str]) -> None:
    await _load(stubs, "m1", "onnx", model_paths["onnx"])
    rows = digits()[0][:4]
    by_name = build_infer_request("m1", {"X": rows})
    by_position = build_infer_request("m1", {"pixels": rows.astype(np.float64)})
    first = response_arrays(await stubs.inference.ModelInfer(by_name))
    second = response_arrays(await stubs.inference.ModelInfer(by_position))
    np.testing.assert_array_equal(first["label"], second["label"])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"input-0": np.zeros((1, 10), np.float32)}, "has 10 features; the model takes 64"),
        ({"input-0": np.zeros(64, np.float32)}, "take [rows, features]"),
        ({"a": np.zeros((1, 64)), "b": np.zeros((1, 64))}, "take one input tensor"),
        ({"input-0": np.array([[b"x"] * 64], dtype=object)}, "is BYTES; sklearn models take"),
    ],
    ids=["features", "rank", "two-inputs", "bytes"],
)
async def test_inputs_a_model_cannot_take_are_invalid(
    stubs: Stubs, model_paths: dict[str, str], inputs: dict[str, np.ndarray], message: str
) -> None:
    await _load(stubs, "m1", "sklearn", model_paths["sklearn"])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stubs.inference.ModelInfer(build_infer_request("m1", inputs))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in error.value.details()


@pytest.mark.parametrize("fmt", ["xgboost", "lightgbm", "onnx"])
async def test_wrong_feature_count_is_invalid_for_every_format(
    stubs: Stubs, model_paths: dict[str, str], fmt: str
) -> None:
    await _load(stubs, "m1", fmt, model_paths[fmt])
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stubs.inference.ModelInfer(
            build_infer_request("m1", {"input-0": np.zeros((2, 10), np.float32)})
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model m1 cannot take this input" in error.value.details()


async def test_bad_tensors_are_invalid(stubs: Stubs, model_paths: dict[str, str]) -> None:
    await _load(stubs, "m1", "sklearn", model_paths["sklearn"])
    short = v2.ModelInferRequest(model_name="m1")
    short.inputs.add(name="x", datatype="FP32", shape=[1, 64]).contents.fp32_contents.extend(
        [0.0] * 63
    )
    unknown = v2.ModelInferRequest(model_name="m1")
    unknown.inputs.add(name="x", datatype="FLOAT32", shape=[1, 1]).contents.fp32_contents.append(1)
    raw = build_infer_request("m1", {"x": np.zeros((1, 64), np.float32)})
    raw.raw_input_contents[0] = raw.raw_input_contents[0][:-4]
    for request, message in [
        (short, "input 'x' has 63 elements in fp32_contents"),
        (unknown, "input 'x' has unknown datatype 'FLOAT32'"),
        (raw, "input 'x' has 252 raw bytes"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stubs.inference.ModelInfer(request)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in error.value.details()
    # the runtime still serves
    ok = await stubs.inference.ModelInfer(build_infer_request("m1", {"x": digits()[0][:1]}))
    assert response_arrays(ok)["predict"].shape == (1,)


def test_public_surface() -> None:
    from modelmesh.runtimes.python import formats

    assert sorted(formats.__all__) == ["BUILT_IN", "Format", "Model", "TensorSpec"]
    assert {name: fmt.suffixes for name, fmt in formats.BUILT_IN.items()} == {
        "sklearn": (".joblib", ".pkl", ".pickle"),
        "xgboost": (".json", ".ubj", ".bst", ".model"),
        "lightgbm": (".txt", ".model"),
        "onnx": (".onnx",),
        "pytorch": (".pt", ".pth", ".torchscript"),
    }
