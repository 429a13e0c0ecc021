"""The runtime core: paths, load failures, timeouts, the loading bound, sizes, model types."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.python.errors import RuntimeFailure
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.python.sizing import MIN_MODEL_BYTES
from tests.runtimes.conftest import Stubs
from tests.runtimes.custom_models import SleepyModel
from tests.support.models import write_sklearn


async def _failure(runtime: PythonRuntime, model_type: str, path: str) -> RuntimeFailure:
    with pytest.raises(RuntimeFailure) as failure:
        await runtime.load("m1", model_type, path, "")
    assert not runtime.is_loaded("m1")
    return failure.value


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    root.mkdir()
    return root


@pytest.fixture
async def own_runtime(settings: RuntimeSettings, root: Path) -> AsyncIterator[PythonRuntime]:
    """A runtime over an empty root of the test's own, with a 300 ms loading timeout."""
    runtime = PythonRuntime(dataclasses.replace(settings, models_root=root, loading_timeout_ms=300))
    yield runtime
    await runtime.close()


@pytest.fixture(autouse=True)
def _fresh_sleepy_counts() -> None:
    SleepyModel.reset()


# ------------------------------------------------------------------ paths


async def test_paths_escaping_the_root_are_refused_before_reading(
    own_runtime: PythonRuntime, root: Path, tmp_path: Path
) -> None:
    outside = write_sklearn(tmp_path / "outside")  # a good model, just not ours to read
    (root / "link").symlink_to(outside.parent)
    (root / "inside").mkdir()
    (root / "inside" / "model.joblib").symlink_to(outside)
    for path in ["../outside/model.joblib", str(outside), "link/model.joblib", "link", "inside"]:
        failure = await _failure(own_runtime, "sklearn", path)
        assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, path
        assert "is outside the models root" in failure.message
    assert (await _failure(own_runtime, "sklearn", " ")).message == "no model path given"


async def test_absolute_paths_inside_the_root_are_fine(
    own_runtime: PythonRuntime, root: Path
) -> None:
    model = write_sklearn(root / "a" / "b")
    assert await own_runtime.load("m1", "sklearn", str(model), "") >= MIN_MODEL_BYTES
    # and ``..`` that stays inside is fine too
    assert await own_runtime.load("m2", "sklearn", "a/../a/b", "") >= MIN_MODEL_BYTES


async def test_path_escape_over_grpc_is_invalid_argument(stubs: Stubs) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stubs.management.loadModel(
            mr.LoadModelRequest(modelId="m1", modelType="sklearn", modelPath="../x")
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ------------------------------------------------------------------ load failures


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("sklearn", "model.joblib"),
        ("sklearn", "model.pkl"),
        ("xgboost", "model.json"),
        ("xgboost", "model.ubj"),
        ("lightgbm", "model.txt"),
        ("onnx", "model.onnx"),
    ],
)
async def test_corrupt_files_fail_naming_the_file(
    own_runtime: PythonRuntime, root: Path, fmt: str, name: str
) -> None:
    bad = root / "bad" / name
    bad.parent.mkdir()
    bad.write_bytes(os.urandom(2048))
    failure = await _failure(own_runtime, fmt, "bad")
    assert failure.code == grpc.StatusCode.INTERNAL
    assert failure.message.startswith(f"failed to load {fmt} model from {bad}: ")
    assert "Stack trace" not in failure.message and "\n" not in failure.message


async def test_a_pickle_without_predict_is_refused(own_runtime: PythonRuntime, root: Path) -> None:
    import joblib

    joblib.dump({"not": "a model"}, root / "dict.joblib")
    failure = await _failure(own_runtime, "sklearn", "dict.joblib")
    assert "TypeError: the file holds a dict, which has no predict()" in failure.message


async def test_missing_and_ambiguous_files_are_failed_preconditions(
    own_runtime: PythonRuntime, root: Path
) -> None:
    (root / "empty").mkdir()
    (root / "two").mkdir()
    (root / "two" / "a.joblib").write_bytes(b"")
    (root / "two" / "b.pkl").write_bytes(b"")
    (root / "two" / "model-settings.json").write_text("{}")
    cases = {
        "nothing/here.joblib": f"sklearn model path {root / 'nothing/here.joblib'} does not exist",
        "empty": f"no sklearn model file (.joblib, .pkl, .pickle) in {root / 'empty'}",
        "two": f"2 files could be the sklearn model file (.joblib, .pkl, .pickle) in "
        f"{root / 'two'}: a.joblib, b.pkl",
    }
    for path, message in cases.items():
        failure = await _failure(own_runtime, "sklearn", path)
        assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
        assert failure.message == message


async def test_unsupported_types_list_the_supported_ones(own_runtime: PythonRuntime) -> None:
    failure = await _failure(own_runtime, "tensorflow", "x")
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
    assert failure.message == (
        "unsupported model type 'tensorflow'; this runtime serves "
        "sklearn, xgboost, lightgbm, onnx, pytorch, sleepy, echo"
    )


# ------------------------------------------------------------------ timeouts and the bound


def _sleepy(root: Path, name: str, seconds: float) -> str:
    (root / name).write_text(str(seconds))
    return name


async def test_a_load_past_the_timeout_fails_and_registers_nothing(
    own_runtime: PythonRuntime, root: Path
) -> None:
    started = time.monotonic()
    failure = await _failure(own_runtime, "sleepy", _sleepy(root, "slow", 1.0))
    assert failure.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "took longer than 300 ms (LOADTIME_TIMEOUT)" in failure.message
    assert time.monotonic() - started < 0.9
    # the loading thread finishes later; its model must not appear then
    await asyncio.to_thread(SleepyModel.finished.wait, 5)
    await asyncio.sleep(0.05)
    assert not own_runtime.is_loaded("m1")
    with pytest.raises(RuntimeFailure, match="model m1 is not loaded"):
        await own_runtime.model_size("m1")


async def test_loads_run_at_most_loading_concurrency_at_once(
    own_runtime: PythonRuntime, root: Path
) -> None:
    path = _sleepy(root, "nap", 0.08)
    started = time.monotonic()
    sizes = await asyncio.gather(*(own_runtime.load(f"m{i}", "sleepy", path, "") for i in range(5)))
    assert SleepyModel.loads == 5
    assert SleepyModel.most_running == 2
    assert time.monotonic() - started >= 3 * 0.08  # three waves of at most two
    assert all(size >= MIN_MODEL_BYTES for size in sizes)


async def test_queued_loads_count_against_the_timeout(
    own_runtime: PythonRuntime, root: Path
) -> None:
    path = _sleepy(root, "nap", 0.2)
    results = await asyncio.gather(
        *(own_runtime.load(f"m{i}", "sleepy", path, "") for i in range(4)),
        return_exceptions=True,
    )
    # two load at once in 0.2 s; the next two would end at 0.4 s, past the 0.3 s timeout
    failed = [r for r in results if isinstance(r, RuntimeFailure)]
    assert [f.code for f in failed] == [grpc.StatusCode.DEADLINE_EXCEEDED] * 2
    assert sum(own_runtime.is_loaded(f"m{i}") for i in range(4)) == 2


async def test_concurrent_loads_of_one_model_share_one_attempt(
    own_runtime: PythonRuntime, root: Path
) -> None:
    path = _sleepy(root, "nap", 0.05)
    sizes = await asyncio.gather(*(own_runtime.load("m1", "sleepy", path, "") for _ in range(3)))
    assert SleepyModel.loads == 1
    assert len(set(sizes)) == 1
    assert await own_runtime.load("m1", "sleepy", path, "") == sizes[0]
    assert SleepyModel.loads == 1


async def test_unloading_a_model_while_it_loads_abandons_the_load(
    own_runtime: PythonRuntime, root: Path
) -> None:
    load = asyncio.create_task(own_runtime.load("m1", "sleepy", _sleepy(root, "nap", 0.1), ""))
    await asyncio.sleep(0.02)
    await own_runtime.unload("m1")
    with pytest.raises(RuntimeFailure) as failure:
        await load
    assert failure.value.code == grpc.StatusCode.ABORTED
    await asyncio.to_thread(SleepyModel.finished.wait, 5)
    await asyncio.sleep(0.05)
    assert not own_runtime.is_loaded("m1")


async def test_a_caller_going_away_does_not_abort_the_load(
    own_runtime: PythonRuntime, root: Path
) -> None:
    load = asyncio.create_task(own_runtime.load("m1", "sleepy", _sleepy(root, "nap", 0.05), ""))
    await asyncio.sleep(0.01)
    load.cancel()
    with pytest.raises(asyncio.CancelledError):
        await load
    await asyncio.to_thread(SleepyModel.finished.wait, 5)
    await asyncio.sleep(0.05)
    assert own_runtime.is_loaded("m1")


# ------------------------------------------------------------------ sizes


async def test_predicted_size_is_disk_size_times_the_format_factor(
    runtime: PythonRuntime, models_root: Path, model_paths: dict[str, str]
) -> None:
    disk = (models_root / model_paths["xgboost"]).stat().st_size
    predicted = runtime.predict_size("m1", "xgboost", "xgboost", "")
    assert predicted == round(disk * 1.25)
    assert runtime.predict_size("m1", "sklearn", model_paths["sklearn"], "") == MIN_MODEL_BYTES
    with pytest.raises(RuntimeFailure, match="outside the models root"):
        runtime.predict_size("m1", "sklearn", "/etc/passwd", "")


async def test_purge_unloads_everything(
    runtime: PythonRuntime, model_paths: dict[str, str]
) -> None:
    for fmt, path in model_paths.items():
        await runtime.load(fmt, fmt, path, "")
    await runtime.purge()
    assert not any(runtime.is_loaded(fmt) for fmt in model_paths)


def test_custom_types_may_not_replace_built_in_formats(settings: RuntimeSettings) -> None:
    clash = dataclasses.replace(
        settings, custom_model_classes={"onnx": "tests.runtimes.custom_models:EchoModel"}
    )
    with pytest.raises(ValueError, match="onnx would replace built-in formats"):
        PythonRuntime(clash)


def test_model_types(runtime: PythonRuntime) -> None:
    assert runtime.model_types == (
        "sklearn",
        "xgboost",
        "lightgbm",
        "onnx",
        "pytorch",
        "sleepy",
        "echo",
    )
