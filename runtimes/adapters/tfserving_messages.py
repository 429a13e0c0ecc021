"""The few TensorFlow Serving messages the adapter sends, built from field numbers at import.

TF Serving's generated Python code ships only with ``tensorflow-serving-api``, which needs
TensorFlow itself; the adapter needs seven small messages, so it declares them here with
the names and numbers of ``tensorflow_serving/apis/{model_management,get_model_status,
model}.proto``, ``config/model_server_config.proto`` and ``util/status.proto``. Enums travel
as their integer values. The classes live in a pool of their own, apart from any real
TensorFlow protos in the process.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_PACKAGE = "tensorflow.serving"
_F = descriptor_pb2.FieldDescriptorProto

# message -> [(field, number, type, message type or "", repeated)]
_MESSAGES: dict[str, list[tuple[str, int, int, str, bool]]] = {
    "ModelConfig": [
        ("name", 1, _F.TYPE_STRING, "", False),
        ("base_path", 2, _F.TYPE_STRING, "", False),
        ("model_platform", 4, _F.TYPE_STRING, "", False),
    ],
    "ModelConfigList": [("config", 1, _F.TYPE_MESSAGE, "ModelConfig", True)],
    "ModelServerConfig": [("model_config_list", 1, _F.TYPE_MESSAGE, "ModelConfigList", False)],
    "ReloadConfigRequest": [("config", 1, _F.TYPE_MESSAGE, "ModelServerConfig", False)],
    # error_code: tensorflow.error.Code, whose values are gRPC's status codes
    "StatusProto": [
        ("error_code", 1, _F.TYPE_INT32, "", False),
        ("error_message", 2, _F.TYPE_STRING, "", False),
    ],
    "ReloadConfigResponse": [("status", 1, _F.TYPE_MESSAGE, "StatusProto", False)],
    "ModelSpec": [("name", 1, _F.TYPE_STRING, "", False)],
    "GetModelStatusRequest": [("model_spec", 1, _F.TYPE_MESSAGE, "ModelSpec", False)],
    # state: ModelVersionStatus.State (UNKNOWN 0, START 10, LOADING 20, AVAILABLE 30,
    # UNLOADING 40, END 50)
    "ModelVersionStatus": [
        ("version", 1, _F.TYPE_INT64, "", False),
        ("state", 2, _F.TYPE_INT32, "", False),
        ("status", 3, _F.TYPE_MESSAGE, "StatusProto", False),
    ],
    "GetModelStatusResponse": [
        ("model_version_status", 1, _F.TYPE_MESSAGE, "ModelVersionStatus", True)
    ],
}

AVAILABLE = 30
END = 50

MODEL_SERVICE = f"/{_PACKAGE}.ModelService"


def _build() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="modelmesh/tfserving_subset.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field, number, kind, type_name, repeated in fields:
            message.field.add(
                name=field,
                number=number,
                type=kind,
                type_name=f".{_PACKAGE}.{type_name}" if type_name else None,
                label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL,
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


_CLASSES = _build()
ModelConfig = _CLASSES["ModelConfig"]
ReloadConfigRequest = _CLASSES["ReloadConfigRequest"]
ReloadConfigResponse = _CLASSES["ReloadConfigResponse"]
GetModelStatusRequest = _CLASSES["GetModelStatusRequest"]
GetModelStatusResponse = _CLASSES["GetModelStatusResponse"]
