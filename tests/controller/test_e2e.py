"""The controller end to end: an emulated Kubernetes API, the controller and a real mesh.

The user's story from the issue: apply the example sklearn InferenceService, see it
Ready with its URL, predict with ``model_name: example-sklearn-isvc``, change the model
and see it roll over with no failed request under traffic, delete it and see the vmodel
and its model gone. The storage is a local path (``file://`` inside the runtime's models
root); S3 belongs to the storage work.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import grpc
import numpy as np

from modelmesh.controller.handling import FINALIZER
from modelmesh.controller.kube import INFERENCE_SERVICES, PREDICTORS, SERVING_RUNTIMES
from modelmesh.protos import model_mesh_admin_pb2 as admin_pb
from modelmesh.protos import model_mesh_admin_pb2_grpc as admin_grpc
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.controller.conftest import (
    Api,
    StartController,
    inference_service,
    is_ready,
    model_status,
    sklearn_runtime,
)
from tests.mesh.conftest import StartMesh
from tests.support.models import digits, write_sklearn

NAME = "example-sklearn-isvc"
VStatus = pb.VModelStatusInfo.VModelStatus


def _loaded(obj: dict | None) -> bool:
    states = model_status(obj).get("states") or {}
    return is_ready(obj) and states == {"activeModelState": "Loaded", "targetModelState": ""}


async def test_example_isvc_ready_predicts_rolls_over_and_unregisters(
    api: Api, controller: StartController, start: StartMesh, clients, mesh_models: Path
) -> None:
    first = mesh_models / "sklearn" / "model.joblib"
    second = write_sklearn(mesh_models / "sklearn-v2", kind="forest")
    mesh = await start()
    c = clients(mesh)
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    await api.apply(INFERENCE_SERVICES, inference_service(NAME, f"file://{first}"))

    ready = await api.wait_for(INFERENCE_SERVICES, NAME, _loaded)
    assert ready is not None
    status = ready["status"]
    assert status["url"] == "grpc://modelmesh-serving.modelmesh-serving:8033"
    assert status["components"]["predictor"]["restUrl"] == (
        "http://modelmesh-serving.modelmesh-serving:8008"
    )
    assert status["modelStatus"]["transitionStatus"] == "UpToDate"
    assert status["modelStatus"]["copies"] == {"failedCopies": 0, "totalCopies": 1}
    assert FINALIZER in ready["metadata"]["finalizers"]

    request = build_infer_request(NAME, {"x": np.asarray(digits()[0][:2])})
    reply = await c.v2.ModelInfer(request)
    old_model = reply.model_name
    assert re.fullmatch(f"{NAME}__isvc-[0-9a-f]{{10}}", old_model)

    served: list[str] = []
    failures: list[grpc.RpcError] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            try:
                served.append((await c.v2.ModelInfer(request)).model_name)
            except grpc.RpcError as exc:
                failures.append(exc)

    workers = [asyncio.create_task(traffic()) for _ in range(3)]
    await asyncio.sleep(0.2)
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": f"file://{second}"}
    await api.patch(INFERENCE_SERVICES, NAME, {"spec": {"predictor": {"model": model}}})

    def rolled_over(obj: dict | None) -> bool:
        return _loaded(obj) and bool(served) and served[-1] != old_model

    await api.wait_for(INFERENCE_SERVICES, NAME, rolled_over)
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*workers)
    assert failures == []
    new_model = served[-1]
    assert re.fullmatch(f"{NAME}__isvc-[0-9a-f]{{10}}", new_model) and new_model != old_model
    assert served.index(new_model) > 0  # the old model served until the new one was ready
    assert set(served) == {old_model, new_model}
    admin = admin_grpc.ModelMeshAdminStub(c.channel)
    for _ in range(50):  # the old model is auto-deleted once the vmodel let go of it
        listed = await admin.listModels(admin_pb.ListModelsRequest(prefix=NAME))
        if [m.modelId for m in listed.models] == [new_model]:
            break
        await asyncio.sleep(0.1)
    assert [m.modelId for m in listed.models] == [new_model]

    await api.delete(INFERENCE_SERVICES, NAME)
    await api.wait_for(INFERENCE_SERVICES, NAME, lambda obj: obj is None)
    vmodel = await c.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId=NAME))
    assert vmodel.status == VStatus.NOT_FOUND
    listed = await admin.listModels(admin_pb.ListModelsRequest(prefix=NAME))
    assert list(listed.models) == []


async def test_predictor_gets_available_with_its_endpoint(
    api: Api, controller: StartController, start: StartMesh, clients, mesh_models: Path
) -> None:
    mesh = await start()
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    predictor = {
        "metadata": {"name": "digits"},
        "spec": {"modelType": {"name": "sklearn"}, "storage": {"path": "sklearn"}},
    }
    await api.apply(PREDICTORS, predictor)

    def available(obj: dict | None) -> bool:
        status = (obj or {}).get("status") or {}
        return status.get("available") is True and status.get("activeModelState") == "Loaded"

    ready = await api.wait_for(PREDICTORS, "digits", available)
    assert ready is not None
    assert ready["status"]["grpcEndpoint"] == "grpc://modelmesh-serving.modelmesh-serving:8033"
    reply = await clients(mesh).v2.ModelInfer(
        build_infer_request("digits", {"x": np.asarray(digits()[0][:1])})
    )
    assert reply.model_name.startswith("digits__ksp-")
