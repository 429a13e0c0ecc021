"""Controller scenarios against the emulated API and a real mesh: failures, runtimes,
restarts, deletions while the controller is away, resources that are not ours."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from modelmesh.controller.handling import FINALIZER
from modelmesh.controller.kube import (
    CLUSTER_SERVING_RUNTIMES,
    INFERENCE_SERVICES,
    PREDICTORS,
    SERVING_RUNTIMES,
)
from modelmesh.protos import model_mesh_pb2 as pb
from tests.controller.conftest import (
    Api,
    StartController,
    inference_service,
    is_ready,
    model_status,
    sklearn_runtime,
)
from tests.mesh.conftest import StartMesh
from tests.support.models import write_lightgbm, write_sklearn


def _states(obj: dict[str, Any] | None) -> dict[str, str]:
    return model_status(obj).get("states") or {}


def _failure(obj: dict[str, Any] | None) -> dict[str, Any]:
    return model_status(obj).get("lastFailureInfo") or {}


def _loaded(obj: dict[str, Any] | None) -> bool:
    return is_ready(obj) and _states(obj) == {"activeModelState": "Loaded", "targetModelState": ""}


async def test_unknown_format_is_no_supporting_runtime_until_a_runtime_serves_it(
    api: Api, controller: StartController, start: StartMesh, mesh_models: Path
) -> None:
    lgbm = write_lightgbm(mesh_models / "lightgbm")
    mesh = await start()
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    await api.apply(INFERENCE_SERVICES, inference_service("boost", f"file://{lgbm}", "lightgbm"))

    def no_runtime(obj: dict[str, Any] | None) -> bool:
        return _failure(obj).get("reason") == "NoSupportingRuntime"

    stuck = await api.wait_for(INFERENCE_SERVICES, "boost", no_runtime)
    assert _states(stuck)["activeModelState"] == "FailedToLoad"
    assert "lightgbm" in _failure(stuck)["message"]
    assert not is_ready(stuck)
    # a cluster-wide runtime that auto-selects lightgbm: the model is woken and loads
    runtime = sklearn_runtime("lgbm-runtime")
    runtime["spec"]["supportedModelFormats"] = [{"name": "lightgbm", "autoSelect": True}]
    await api.apply(CLUSTER_SERVING_RUNTIMES, runtime)
    loaded = await api.wait_for(INFERENCE_SERVICES, "boost", _loaded)
    assert "lastFailureInfo" not in model_status(loaded)


async def test_named_runtime_that_does_not_exist_is_not_recognized(
    api: Api, controller: StartController, start: StartMesh, mesh_models: Path
) -> None:
    mesh = await start()
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    isvc = inference_service("named", f"file://{mesh_models / 'sklearn'}")
    isvc["spec"]["predictor"]["model"]["runtime"] = "triton-2.x"
    await api.apply(INFERENCE_SERVICES, isvc)
    found = await api.wait_for(
        INFERENCE_SERVICES, "named", lambda o: _failure(o).get("reason") == "RuntimeNotRecognized"
    )
    assert "triton-2.x" in _failure(found)["message"]


async def test_invalid_spec_is_reported_and_registers_nothing(
    api: Api, controller: StartController, start: StartMesh, clients
) -> None:
    mesh = await start()
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    isvc = inference_service("both", "s3://bucket/model")
    isvc["spec"]["predictor"]["model"]["storage"] = {"path": "sklearn"}
    await api.apply(INFERENCE_SERVICES, isvc)
    bad = await api.wait_for(
        INFERENCE_SERVICES,
        "both",
        lambda o: model_status(o).get("transitionStatus") == "InvalidSpec",
    )
    assert _failure(bad)["reason"] == "InvalidPredictorSpec"
    assert "storageUri and storage.path" in _failure(bad)["message"]
    assert not is_ready(bad)
    status = await clients(mesh).mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="both"))
    assert status.status == pb.VModelStatusInfo.VModelStatus.NOT_FOUND


async def test_corrupt_model_is_failed_to_load_with_the_runtime_message(
    api: Api, controller: StartController, start: StartMesh, mesh_models: Path
) -> None:
    broken = mesh_models / "broken" / "model.joblib"
    broken.parent.mkdir()
    broken.write_bytes(b"this is not a pickle")
    mesh = await start()
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    await api.apply(INFERENCE_SERVICES, inference_service("broken", f"file://{broken}"))
    failed = await api.wait_for(
        INFERENCE_SERVICES, "broken", lambda o: _states(o).get("activeModelState") == "FailedToLoad"
    )
    failure = _failure(failed)
    assert failure["reason"] == "ModelLoadFailed"
    assert "model.joblib" in failure["message"]
    assert failure["modelRevisionName"].startswith("broken__isvc-")
    assert failure["location"] and failure["time"]
    assert model_status(failed)["copies"]["failedCopies"] == 1
    assert not is_ready(failed)


async def test_restarted_controller_finishes_a_rollover_and_a_deletion(
    api: Api, controller: StartController, start: StartMesh, clients, mesh_models: Path
) -> None:
    second = write_sklearn(mesh_models / "v2", kind="forest")
    mesh = await start()
    c = clients(mesh)
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    first = await controller(mesh.address)
    await api.apply(INFERENCE_SERVICES, inference_service("m", f"file://{mesh_models}/sklearn"))
    await api.wait_for(INFERENCE_SERVICES, "m", _loaded)
    before = await c.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="m", owner="isvc"))

    # the spec changes while no controller runs: the new one repairs the missed event
    await first.stop()
    model = {"modelFormat": {"name": "sklearn"}, "storageUri": f"file://{second}"}
    await api.patch(INFERENCE_SERVICES, "m", {"spec": {"predictor": {"model": model}}})
    second_controller = await controller(mesh.address)

    for _ in range(100):
        after = await c.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="m", owner="isvc"))
        if after.activeModelId != before.activeModelId:
            break
        await asyncio.sleep(0.1)
    assert after.activeModelId == after.targetModelId != before.activeModelId
    await api.wait_for(INFERENCE_SERVICES, "m", _loaded)

    # deleted while no controller runs: the finalizer keeps it until one unregisters it
    await second_controller.stop()
    await api.delete(INFERENCE_SERVICES, "m")
    held = await api.get(INFERENCE_SERVICES, "m")
    assert held is not None and held["metadata"]["finalizers"] == [FINALIZER]
    await controller(mesh.address)
    await api.wait_for(INFERENCE_SERVICES, "m", lambda obj: obj is None)
    gone = await c.mesh.getVModelStatus(pb.GetVModelStatusRequest(vModelId="m"))
    assert gone.status == pb.VModelStatusInfo.VModelStatus.NOT_FOUND


async def test_inference_service_of_another_deployment_mode_is_left_alone(
    api: Api, controller: StartController, start: StartMesh, clients
) -> None:
    mesh = await start()
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    isvc = inference_service("serverless", "s3://bucket/model")
    isvc["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "Serverless"}
    await api.apply(INFERENCE_SERVICES, isvc)
    # a ModelMesh one applied after it is handled, so the first was looked at too
    await api.apply(INFERENCE_SERVICES, inference_service("ours", "s3://bucket/model"))
    await api.wait_for(INFERENCE_SERVICES, "ours", lambda o: bool(model_status(o)))
    untouched = await api.get(INFERENCE_SERVICES, "serverless")
    assert untouched is not None
    assert "status" not in untouched and "finalizers" not in untouched["metadata"]
    status = await clients(mesh).mesh.getVModelStatus(
        pb.GetVModelStatusRequest(vModelId="serverless")
    )
    assert status.status == pb.VModelStatusInfo.VModelStatus.NOT_FOUND


async def test_unreachable_mesh_is_runtime_unhealthy_then_recovers(
    api: Api, controller: StartController, start: StartMesh, mesh_models: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    waiting = await controller(f"127.0.0.1:{closed}", MM_CALL_TIMEOUT_MS="500")
    await api.apply(INFERENCE_SERVICES, inference_service("m", f"file://{mesh_models}/sklearn"))
    down = await api.wait_for(
        INFERENCE_SERVICES, "m", lambda o: _failure(o).get("reason") == "RuntimeUnhealthy"
    )
    assert not is_ready(down) and f"127.0.0.1:{closed}" in _failure(down)["message"]
    await waiting.stop()
    mesh = await start()
    await controller(mesh.address)
    await api.wait_for(INFERENCE_SERVICES, "m", _loaded)


async def test_same_name_from_another_source_is_refused(
    api: Api, controller: StartController, start: StartMesh, mesh_models: Path
) -> None:
    mesh = await start()
    await api.apply(SERVING_RUNTIMES, sklearn_runtime())
    await controller(mesh.address)
    await api.apply(INFERENCE_SERVICES, inference_service("twin", f"file://{mesh_models}/sklearn"))
    await api.wait_for(INFERENCE_SERVICES, "twin", _loaded)
    predictor = {
        "metadata": {"name": "twin"},
        "spec": {"modelType": {"name": "sklearn"}, "path": "sklearn"},
    }
    await api.apply(PREDICTORS, predictor)
    refused = await api.wait_for(
        PREDICTORS,
        "twin",
        lambda o: (
            ((o or {}).get("status") or {}).get("lastFailureInfo", {}).get("reason")
            == "InvalidPredictorSpec"
        ),
    )
    assert "different source" in refused["status"]["lastFailureInfo"]["message"]
    assert refused["status"]["available"] is False
    assert _loaded(await api.get(INFERENCE_SERVICES, "twin"))  # the first owner keeps it
