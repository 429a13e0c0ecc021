"""Loads from storage through the runtime's gRPC servers: pull, load, predict, unload."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.runtimes.conftest import Stubs, runtime_settings
from tests.support.models import digits, write_lightgbm, write_sklearn
from tests.support.storage import S3Server, file_server, stalling_server, write_storage_config

ROWS = digits()[0][:8]
LABELS = digits()[1][:8]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "storage-config"


@pytest.fixture
def settings(models_root: Path, tmp_path: Path, config_dir: Path) -> RuntimeSettings:
    return dataclasses.replace(
        runtime_settings(models_root),
        storage_config_dir=config_dir,
        model_cache_dir=tmp_path / "cache",
        pull_timeout_ms=2_000,
    )


@pytest.fixture
def bucket(s3_server: S3Server, tmp_path: Path, config_dir: Path) -> str:
    """A bucket with a scikit-learn model file and a LightGBM model folder; key ``s3``."""
    bucket = s3_server.new_bucket()
    s3_server.upload(bucket, "sk/model.joblib", write_sklearn(tmp_path / "local"))
    s3_server.upload(bucket, "lgb/v1/model.txt", write_lightgbm(tmp_path / "local"))
    s3_server.client().put_object(Bucket=bucket, Key="lgb/v1/model-settings.json", Body=b"{}")
    write_storage_config(config_dir, "s3", s3_server.entry(bucket))
    return bucket


def _key(storage_key: str | None = None, **params: str) -> str:
    return json.dumps({"storage_key": storage_key, "storage_params": params})


async def _predict(stubs: Stubs, model_id: str) -> np.ndarray:
    reply = await stubs.inference.ModelInfer(build_infer_request(model_id, {"x": ROWS}))
    return response_arrays(reply)["predict"]


async def _load(stubs: Stubs, model_id: str, model_type: str, path: str, key: str) -> int:
    reply = await stubs.management.loadModel(
        mr.LoadModelRequest(modelId=model_id, modelType=model_type, modelPath=path, modelKey=key)
    )
    return reply.sizeInBytes


async def test_file_and_folder_from_s3_predict_and_leave_no_bytes(
    stubs: Stubs, runtime: PythonRuntime, bucket: str, tmp_path: Path
) -> None:
    assert await _load(stubs, "sk", "sklearn", "sk/model.joblib", _key("s3")) > 0
    assert (await _predict(stubs, "sk") == LABELS).mean() >= 0.75
    size = await _load(stubs, "lgb", "mt:lightgbm", "lgb/v1", _key("s3", bucket=bucket))
    assert size > 0
    probabilities = response_arrays(
        await stubs.inference.ModelInfer(build_infer_request("lgb", {"x": ROWS}))
    )["predict"]
    assert (probabilities.argmax(axis=1) == LABELS).mean() >= 0.75
    cache = tmp_path / "cache"
    assert sorted(p.name for p in _files(cache)) == [
        "model-settings.json",
        "model.joblib",
        "model.txt",
    ]
    predicted = await stubs.management.predictModelSize(
        mr.PredictModelSizeRequest(
            modelId="lgb", modelType="lightgbm", modelPath="lgb/v1", modelKey=_key("s3")
        )
    )
    assert predicted.sizeInBytes > 0  # pulled already: from its size on disk
    await stubs.management.unloadModel(mr.UnloadModelRequest(modelId="sk"))
    await stubs.management.unloadModel(mr.UnloadModelRequest(modelId="lgb"))
    assert _files(cache) == []


def _files(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file() and path.suffix != ".lock"]


async def test_s3_uri_form(
    stubs: Stubs, s3_server: S3Server, bucket: str, config_dir: Path
) -> None:
    write_storage_config(config_dir, "default", s3_server.entry())
    await _load(stubs, "m1", "sklearn", f"s3://{bucket}/sk/model.joblib", "")
    assert (await _predict(stubs, "m1") == LABELS).mean() >= 0.75


async def test_model_from_an_http_server(stubs: Stubs, tmp_path: Path) -> None:
    write_sklearn(tmp_path / "www" / "digits")
    with file_server(tmp_path / "www") as server:
        await _load(stubs, "m1", "sklearn", f"{server.url}/digits/model.joblib", "")
    assert (await _predict(stubs, "m1") == LABELS).mean() >= 0.75


async def test_predicted_size_is_unknown_before_the_pull(stubs: Stubs, bucket: str) -> None:
    request = mr.PredictModelSizeRequest(
        modelId="m1", modelType="sklearn", modelPath="sk/model.joblib", modelKey=_key("s3")
    )
    assert (await stubs.management.predictModelSize(request)).sizeInBytes == 0


@pytest.mark.parametrize(
    ("path", "key", "code", "message"),
    [
        (
            "sk/model.joblib",
            _key("nokey"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "storage key 'nokey' is not in",
        ),
        (
            "sk/missing.joblib",
            _key("s3"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "no object 'sk/missing.joblib'",
        ),
        (
            "sk/model.joblib",
            _key("s3", bucket="no-such-bucket"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "bucket 'no-such-bucket' at",
        ),
        ("../sk/model.joblib", _key("s3"), grpc.StatusCode.INVALID_ARGUMENT, "'..' segment"),
        (
            "sk/model.joblib",
            _key("wrong"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "refused the credentials",
        ),
        ("lgb/v1", _key("s3"), grpc.StatusCode.FAILED_PRECONDITION, "no sklearn model file"),
    ],
)
async def test_failures_over_grpc_name_the_storage_key(
    stubs: Stubs,
    runtime: PythonRuntime,
    s3_server: S3Server,
    bucket: str,
    config_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    path: str,
    key: str,
    code: grpc.StatusCode,
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelmesh")
    write_storage_config(
        config_dir, "wrong", s3_server.entry(bucket, secret_access_key="WRONG-secret-42")
    )
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _load(stubs, "m1", "sklearn", path, key)
    details = error.value.details() or ""
    assert error.value.code() == code, details
    assert message in details
    assert "storage key '" in details or "model file" in details
    for secret in ("WRONG-secret-42", s3_server.secret_key):
        assert secret not in details and secret not in caplog.text
    assert not runtime.is_loaded("m1")
    assert _files(tmp_path / "cache") == []


async def test_a_silent_storage_fails_the_load_in_time(
    stubs: Stubs, s3_server: S3Server, config_dir: Path
) -> None:
    with stalling_server() as endpoint:
        write_storage_config(config_dir, "slow", s3_server.entry("b", endpoint_url=endpoint))
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await _load(stubs, "m1", "sklearn", "m.joblib", _key("slow"))
    assert error.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "pulling model m1 failed: storage key 'slow' (s3): getting s3://b/m.joblib" in (
        error.value.details() or ""
    )


async def test_config_changes_apply_to_the_next_load(
    stubs: Stubs, s3_server: S3Server, bucket: str, config_dir: Path
) -> None:
    write_storage_config(config_dir, "k", s3_server.entry(bucket, secret_access_key="bad-one"))
    with pytest.raises(grpc.aio.AioRpcError):
        await _load(stubs, "m1", "sklearn", "sk/model.joblib", _key("k"))
    write_storage_config(config_dir, "k", s3_server.entry(bucket))  # the Secret was fixed
    await _load(stubs, "m1", "sklearn", "sk/model.joblib", _key("k"))
    assert (await _predict(stubs, "m1") == LABELS).mean() >= 0.75


async def test_local_models_are_untouched_by_storage(
    stubs: Stubs, model_paths: dict[str, str], tmp_path: Path
) -> None:
    await _load(
        stubs, "m1", "sklearn", model_paths["sklearn"], '{"model_type": {"name": "sklearn"}}'
    )
    assert (await _predict(stubs, "m1") == LABELS).mean() >= 0.75
    assert not (tmp_path / "cache").exists()  # no pull, so no cache directory


async def test_credentials_in_a_model_url_stay_out_of_errors(
    stubs: Stubs, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelmesh")
    (tmp_path / "www").mkdir()
    with file_server(tmp_path / "www") as server:
        for path, code in [
            (f"{server.url}/none.joblib?X-Amz-Signature=sig-0123456789", "FAILED_PRECONDITION"),
            ("ftp://user:pass-0123456789@host/m.joblib?token=sig-0123456789", "INVALID_ARGUMENT"),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await _load(stubs, "m1", "sklearn", path, "")
            assert error.value.code().name == code
            details = error.value.details() or ""
            assert "sig-0123456789" not in details and "pass-0123456789" not in details
    assert "sig-0123456789" not in caplog.text
