"""A mesh registering models that live in S3: ModelInfo.key names the storage, as upstream."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.mesh.conftest import Clients, StartMesh
from tests.support.models import digits, write_sklearn
from tests.support.storage import S3Server, write_storage_config

Status = pb.ModelStatusInfo.ModelStatus


async def _register(
    c: Clients, model_id: str, path: str, key: dict[str, object]
) -> pb.ModelStatusInfo:
    return await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId=model_id,
            modelInfo=pb.ModelInfo(type="sklearn", path=path, key=json.dumps(key)),
            loadNow=True,
            sync=True,
        )
    )


async def test_models_in_s3_register_load_and_predict(
    start: StartMesh, clients, s3_server: S3Server, tmp_path: Path
) -> None:
    bucket = s3_server.new_bucket()
    s3_server.upload(bucket, "digits/model.joblib", write_sklearn(tmp_path / "local"))
    config = tmp_path / "storage-config"
    write_storage_config(config, "models-s3", s3_server.entry())
    c = clients(
        await start(STORAGE_CONFIG_DIR=str(config), MM_MODEL_CACHE_DIR=str(tmp_path / "cache"))
    )
    key = {"storage_key": "models-s3", "storage_params": {"bucket": bucket}}
    status = await _register(c, "digits-s3", "digits/model.joblib", key)
    assert status.status == Status.LOADED, list(status.errors)
    rows, labels = digits()[0][:8], digits()[1][:8]
    reply = await c.v2.ModelInfer(build_infer_request("digits-s3", {"x": np.asarray(rows)}))
    assert (response_arrays(reply)["predict"] == labels).mean() >= 0.75

    missing = await _register(c, "missing", "digits/none.joblib", key)
    assert missing.status == Status.LOADING_FAILED
    assert "storage key 'models-s3' (s3): no object 'digits/none.joblib'" in missing.errors[0]
    assert s3_server.secret_key not in missing.errors[0]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await c.v2.ModelInfer(build_infer_request("missing", {"x": np.asarray(rows)}))
    assert error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
