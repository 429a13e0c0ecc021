"""TensorFlow Serving through its model config reload API (gRPC ``ModelService`` on
``INTERNAL_SERVING_GRPC_PORT``, 8500 by default). Untested against a real server: none runs
on the machines this project is built on; its tests use a stand-in (see the README).

TF Serving serves exactly the models of its last config: each load or unload sends
``HandleReloadConfigRequest`` with the whole list (one at a time), and a load then polls
``GetModelStatus`` until a version is AVAILABLE, or ends with the server's error. A model is
a base path holding numbered version directories; a model path that is one SavedModel
directory (``saved_model.pb`` inside) is linked as version 1 under the adapter's repository.
Inference goes straight from the mesh to ``PredictionService``, the model id written into
``model_spec.name`` (field 1 of field 1).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from modelmesh.runtimes.adapters import tfserving_messages as tfs
from modelmesh.runtimes.adapters.base import ModelFiles, ServerAdapter
from modelmesh.runtimes.adapters.errors import ServerError
from modelmesh.runtimes.adapters.repository import Repository, link, remove
from modelmesh.runtimes.adapters.settings import AdapterSettings
from modelmesh.runtimes.python.errors import ModelFileMissing

_PREDICTION = "tensorflow.serving.PredictionService"
PREDICTION_METHODS = {
    f"{_PREDICTION}/{method}": (1, 1)
    for method in ("Predict", "Classify", "Regress", "GetModelMetadata")
}
# TF Serving's error codes are gRPC's status codes
_CODES = {code.value[0]: code for code in grpc.StatusCode}
_POLL_S = 0.1
_CALL_TIMEOUT_S = 30.0


def _code(number: int) -> grpc.StatusCode:
    return _CODES.get(number, grpc.StatusCode.UNKNOWN)


def _is_version_dir(path: Path) -> bool:
    return path.is_dir() and path.name.isdigit()


class TFServingAdapter(ServerAdapter):
    display_name = "TensorFlow Serving"
    method_infos = PREDICTION_METHODS

    def __init__(self, settings: AdapterSettings) -> None:
        self._address = settings.serving_address
        self._channel = grpc.aio.insecure_channel(settings.serving_address)
        self._reload = self._channel.unary_unary(
            f"{tfs.MODEL_SERVICE}/HandleReloadConfigRequest",
            request_serializer=tfs.ReloadConfigRequest.SerializeToString,
            response_deserializer=tfs.ReloadConfigResponse.FromString,
        )
        self._get_status = self._channel.unary_unary(
            f"{tfs.MODEL_SERVICE}/GetModelStatus",
            request_serializer=tfs.GetModelStatusRequest.SerializeToString,
            response_deserializer=tfs.GetModelStatusResponse.FromString,
        )
        self._repository = Repository(settings.repository_dir)
        # model id -> base path: the config TF Serving was last sent
        self._models: dict[str, str] = {}
        self._config_lock = asyncio.Lock()

    async def version(self) -> str | None:
        try:
            await self._get_status(
                tfs.GetModelStatusRequest(model_spec={"name": "modelmesh-probe"}), timeout=5
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return None  # not listening yet; any other answer means it is up
        return "tensorflow-serving"

    async def loaded_models(self) -> list[str]:
        # TF Serving holds what its config lists: ``clear`` sends an empty one
        return list(self._models)

    async def load(self, model: ModelFiles) -> None:
        base_path = self._base_path(model)
        async with self._config_lock:
            self._models[model.model_id] = base_path
            try:
                await self._send_config()
            except BaseException:
                del self._models[model.model_id]
                raise
        try:
            await self._wait_available(model.model_id)
        except ServerError:
            await self.unload(model.model_id)
            raise

    def _base_path(self, model: ModelFiles) -> str:
        path = model.path
        if path.is_dir() and any(_is_version_dir(child) for child in path.iterdir()):
            return str(path)
        if path.is_dir() and (path / "saved_model.pb").is_file():
            entry = self._repository.fresh_dir(model.model_id)
            link(path, entry / "1")
            return str(entry)
        raise ModelFileMissing(
            f"{path} is neither a TF Serving base path (numbered version directories) nor a "
            "SavedModel directory (saved_model.pb)"
        )

    async def _send_config(self) -> None:
        request = tfs.ReloadConfigRequest()
        configs = request.config.model_config_list
        configs.SetInParent()  # an empty list is a config too: it unloads everything
        for model_id, base_path in self._models.items():
            configs.config.add(name=model_id, base_path=base_path, model_platform="tensorflow")
        try:
            reply = await self._reload(request, timeout=_CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            raise ServerError(
                f"TensorFlow Serving at {self._address} refused the model config: "
                f"{exc.details() or exc.code().name}",
                exc.code(),
            ) from exc
        if reply.status.error_code:
            raise ServerError(
                f"TensorFlow Serving refused the model config: {reply.status.error_message}",
                _code(reply.status.error_code),
            )

    async def _wait_available(self, model_id: str) -> None:
        """Poll until a version serves, or the server gives up on every version."""
        request = tfs.GetModelStatusRequest(model_spec={"name": model_id})
        while True:
            try:
                reply = await self._get_status(request, timeout=_CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:  # NOT_FOUND: not picked up yet
                    raise ServerError(
                        f"TensorFlow Serving status of model {model_id}: {exc.details()}",
                        exc.code(),
                    ) from exc
                reply = None
            versions = list(reply.model_version_status) if reply is not None else []
            if any(v.state == tfs.AVAILABLE for v in versions):
                return
            failed = [v for v in versions if v.state == tfs.END and v.status.error_code]
            if versions and len(failed) == len(versions):
                raise ServerError(
                    f"TensorFlow Serving could not load model {model_id}: "
                    f"{failed[0].status.error_message}",
                    _code(failed[0].status.error_code),
                )
            await asyncio.sleep(_POLL_S)

    async def unload(self, model_id: str) -> None:
        async with self._config_lock:
            if self._models.pop(model_id, None) is not None:
                await self._send_config()
        remove(self._repository.entry(model_id))

    async def clear(self) -> None:
        async with self._config_lock:
            self._models.clear()
            await self._send_config()
        self._repository.clear()

    async def close(self) -> None:
        await self._channel.close()
