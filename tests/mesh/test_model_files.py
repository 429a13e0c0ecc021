"""What a model may read, through a whole mesh: paths that leave the models root (``..``,
absolute paths, symlinked directories and files) are refused before anything is read, and
with RUNTIME_ALLOW_PICKLE=false no pickle is ever opened. The bait outside the root is a
pickle that leaves a marker file behind if anything unpickles it."""

from __future__ import annotations

import pickle
from pathlib import Path

import grpc
import numpy as np
import pytest

from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.python.errors import FormatRefused
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import StartMesh
from tests.support.models import digits, write_onnx

Status = pb.ModelStatusInfo.ModelStatus


class _Bait:
    """Unpickling this creates ``marker``: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


@pytest.fixture
def bait(tmp_path: Path) -> Path:
    """A directory outside the models root holding ``model.joblib``, a booby-trapped pickle;
    returns the marker file its unpickling would create."""
    outside = tmp_path / "outside"
    outside.mkdir()
    marker = tmp_path / "unpickled.marker"
    (outside / "model.joblib").write_bytes(pickle.dumps(_Bait(marker)))
    return marker


def unpickled(marker: Path) -> bool:
    return marker.exists()


def _infer(name: str) -> object:
    return build_infer_request(name, {"x": np.asarray(digits()[0][:1])})


async def test_paths_out_of_the_models_root_are_refused(
    start: StartMesh, clients, mesh_models: Path, bait: Path
) -> None:
    outside = bait.parent / "outside"
    (mesh_models / "dir-link").symlink_to(outside)
    (mesh_models / "file-link").mkdir()
    (mesh_models / "file-link" / "model.joblib").symlink_to(outside / "model.joblib")
    c = clients(await start())
    paths = [
        "../outside",
        "../outside/model.joblib",
        "sklearn/../../outside",
        str(outside),
        str(outside / "model.joblib"),
        "dir-link",
        "dir-link/model.joblib",
        "file-link",
    ]
    for i, path in enumerate(paths):
        model_id = f"escape-{i}"
        status = await c.mesh.registerModel(
            pb.RegisterModelRequest(
                modelId=model_id,
                modelInfo=pb.ModelInfo(type="sklearn", path=path),
                loadNow=True,
                sync=True,
            )
        )
        assert status.status == Status.LOADING_FAILED, (path, status)
        assert "outside the models root" in " ".join(status.errors), (path, status.errors)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await c.v2.ModelInfer(_infer(model_id), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, path
    assert not unpickled(bait), "a file outside the models root was unpickled"
    # the models inside the root still serve
    await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId="ok", modelInfo=pb.ModelInfo(type="sklearn", path="sklearn")
        )
    )
    assert (await c.v2.ModelInfer(_infer("ok"), timeout=30)).model_name == "ok"


async def test_no_pickle_is_read_when_pickles_are_not_allowed(
    start: StartMesh, clients, mesh_models: Path, bait: Path
) -> None:
    (mesh_models / "trap").mkdir()
    (mesh_models / "trap" / "model.joblib").write_bytes(
        (bait.parent / "outside" / "model.joblib").read_bytes()
    )
    write_onnx(mesh_models / "onnx")
    c = clients(await start(RUNTIME_ALLOW_PICKLE="false"))
    for model_type in ("sklearn", "mt:sklearn"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await c.mesh.registerModel(
                pb.RegisterModelRequest(
                    modelId=f"trap-{model_type}",
                    modelInfo=pb.ModelInfo(type=model_type, path="trap"),
                    loadNow=True,
                    sync=True,
                )
            )
        # this instance does not offer sklearn: placement finds no instance for the type
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "sklearn" in (refused.value.details() or "")
    assert not unpickled(bait)
    # formats that run no code on load are served as usual
    status = await c.mesh.registerModel(
        pb.RegisterModelRequest(
            modelId="safe",
            modelInfo=pb.ModelInfo(type="onnx", path="onnx"),
            loadNow=True,
            sync=True,
        )
    )
    assert status.status == Status.LOADED, status


async def test_the_runtime_names_the_setting_when_it_refuses_a_pickle(
    mesh_models: Path, bait: Path
) -> None:
    (mesh_models / "trap").mkdir()
    (mesh_models / "trap" / "model.joblib").write_bytes(
        (bait.parent / "outside" / "model.joblib").read_bytes()
    )
    settings = RuntimeSettings.from_env(
        {"ROOT_MODEL_DIR": str(mesh_models), "RUNTIME_ALLOW_PICKLE": "false"}
    )
    runtime = PythonRuntime(settings)
    try:
        assert "sklearn" not in runtime.model_types
        for model_type, key in (("sklearn", ""), ("rt:x", '{"model_type": {"name": "sklearn"}}')):
            with pytest.raises(FormatRefused) as refused:
                await runtime.load("trap", model_type, "trap", key)
            assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
            assert "RUNTIME_ALLOW_PICKLE=false" in refused.value.message
            with pytest.raises(FormatRefused):
                runtime.predict_size("trap", model_type, "trap", key)
    finally:
        await runtime.close()
    assert not unpickled(bait)
    with pytest.raises(ValueError, match="RUNTIME_ALLOW_PICKLE='maybe' is not a boolean"):
        RuntimeSettings.from_env({"RUNTIME_ALLOW_PICKLE": "maybe"})
