"""A real mesh on a real etcd (KV_STORE=etcd:...): registrations outlive the instance, and
land under etcd_connection's root_prefix."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.mesh.app import MeshApp, start_mesh
from modelmesh.mesh.kv.etcd import EtcdStore
from modelmesh.mesh.kv.etcd_config import parse_etcd_target
from modelmesh.mesh.settings import Settings
from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from modelmesh.runtimes.tensors import build_infer_request, response_arrays
from tests.support.etcd import EtcdCluster
from tests.support.models import digits

Status = pb.ModelStatusInfo.ModelStatus


async def start(env: dict[str, str]) -> MeshApp:
    app = await start_mesh(Settings.from_env(env))
    # Instances.start publishes this instance's record but learns of it from the watch
    # only, a moment later: until then placement sees no instance at all
    async with asyncio.timeout(5):
        while True:
            if app.settings.instance_id in app.instances.alive():
                return app
            await asyncio.sleep(0.01)


async def predict(app: MeshApp, model_id: str) -> np.ndarray:
    async with grpc.aio.insecure_channel(app.address) as channel:
        request = build_infer_request(model_id, {"x": np.asarray(digits()[0][:4])})
        reply = await v2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    return response_arrays(reply)["predict"]


@pytest.mark.parametrize("form", ["endpoints", "json_file"])
async def test_registration_survives_a_mesh_restart(
    form: str, etcd_server: EtcdCluster, mesh_models: Path, tmp_path: Path
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    if form == "endpoints":
        kv_store, root = f"etcd:{etcd_server.endpoints[0]}", ""
    else:
        connection = tmp_path / "etcd_connection"
        connection.write_text(json.dumps({"endpoints": etcd_server.target, "root_prefix": "t-a"}))
        kv_store, root = f"etcd:{connection}", "t-a/"
    env = {
        "KV_STORE": kv_store,
        "MM_SERVICE_NAME": service,
        "WKUBE_POD_NAME": "mesh-etcd-01",
        "MM_SVC_GRPC_PORT": "0",
        "ROOT_MODEL_DIR": str(mesh_models),
        "CONTAINER_MEM_REQ_BYTES": str(512 * 1024 * 1024),
        "MEM_BUFFER_BYTES": "0",
    }
    app = await start(env)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            await mm_grpc.ModelMeshStub(channel).registerModel(
                pb.RegisterModelRequest(
                    modelId="digits",
                    modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"),
                    loadNow=True,
                    sync=True,
                )
            )
        first = await predict(app, "digits")
    finally:
        await app.stop(0)

    store = await EtcdStore.connect(parse_etcd_target(etcd_server.target))
    try:
        record = await store.get(f"{root}mm/{service}/registry/digits")
    finally:
        await store.close()
    assert record is not None and json.loads(record.value)["mPath"] == "sklearn"

    app = await start(env)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            status = await mm_grpc.ModelMeshStub(channel).getModelStatus(
                pb.GetStatusRequest(modelId="digits")
            )
        assert status.status != Status.NOT_FOUND
        assert (await predict(app, "digits") == first).all()
    finally:
        await app.stop(0)
