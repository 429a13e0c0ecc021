"""What a resource asks the mesh to serve: InferenceService and Predictor specs, parsed.

Pure functions over the objects as the API server returns them (plain dicts). Each source
becomes one ``ModelSource``; a spec that cannot be served raises ``InvalidSpec`` with the
message written into the resource's status (reason ``InvalidPredictorSpec``).

The mapping follows upstream modelmesh-serving (``pkg/predictor_source`` and
``controllers/predictor_controller.go``):

- vmodel id = the resource's name, owner = the source id (``isvc`` for InferenceServices,
  ``ksp`` for Predictors), concrete model id ``<name>__<source>-<10 hex of the spec hash>``.
- ``ModelInfo.type``: ``rt:<runtime>`` when a runtime is named, else
  ``mt:<format>[:<version>]`` (``|pv:<protocol>`` appended when one is asked for).
- ``ModelInfo.path``: the path inside the storage; ``ModelInfo.key``: JSON
  ``{storage_key, storage_params, model_type{name, version}, schema_path}``.
- ``storageUri`` schemes: ``s3://bucket/path``, ``gs://bucket/path``,
  ``pvc://claim/path``, ``https://<account>.blob.core.windows.net/container/path`` (azure),
  other ``http(s)://`` URLs (the whole URL in ``storage_params.url``). Added here:
  ``file://path`` — a path the runtime resolves inside its own models root, with no
  storage parameters (one-machine setups; upstream has no equivalent).

The concrete id's hash is SHA-1 over this module's canonical JSON of the spec, not
over Go's encoding of upstream's struct, so ids differ from upstream's: a controller swap
reloads each model once under its new id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

ISVC_SOURCE = "isvc"
PREDICTOR_SOURCE = "ksp"

DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
MODELMESH_MODE = "ModelMesh"
SECRET_KEY_ANNOTATION = "serving.kserve.io/secretKey"
SCHEMA_PATH_ANNOTATION = "serving.kserve.io/schemaPath"
RUNTIME_ANNOTATION = "serving.kserve.io/servingRuntime"

# The framework fields of an InferenceService predictor before `model` existed, in the
# order upstream checks them; each names its model format.
_FRAMEWORKS = ("xgboost", "lightgbm", "sklearn", "tensorflow", "onnx", "pytorch", "triton", "pmml")
_AZURE_BLOB_HOST = ".blob.core.windows.net"


class InvalidSpec(ValueError):
    """The resource's spec cannot be turned into a registration; the message says why."""


@dataclass(frozen=True)
class ModelSource:
    """One resource's desired model, whichever kind of resource it came from."""

    source_id: str
    namespace: str
    name: str
    model_format: str
    format_version: str | None = None
    runtime: str | None = None
    protocol_version: str | None = None
    path: str = ""
    schema_path: str | None = None
    storage_key: str | None = None
    storage_params: Mapping[str, str] = field(default_factory=dict)

    @property
    def vmodel_id(self) -> str:
        return self.name

    @property
    def owner(self) -> str:
        return self.source_id

    @property
    def model_id(self) -> str:
        """The concrete model id: a new spec is a new model, so a change rolls over."""
        return f"{self.name}__{self.source_id}-{self.spec_hash()}"

    def spec_hash(self) -> str:
        canonical = json.dumps(self._spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha1(canonical.encode()).hexdigest()[:10]

    def _spec(self) -> dict[str, Any]:
        return {
            "modelType": {"name": self.model_format, "version": self.format_version},
            "runtime": self.runtime,
            "protocolVersion": self.protocol_version,
            "storage": {
                "path": self.path,
                "schemaPath": self.schema_path,
                "key": self.storage_key,
                "parameters": dict(self.storage_params),
            },
        }

    @property
    def model_type(self) -> str:
        """Upstream's placement label: the mesh loads it only where the label is served."""
        if self.runtime:
            return f"rt:{self.runtime}"
        label = f"mt:{self.model_format}"
        if self.format_version:
            label += f":{self.format_version}"
        if self.protocol_version:
            label += f"|pv:{self.protocol_version}"
        return label

    @property
    def model_key(self) -> str:
        """The JSON the runtime's puller reads: where the model is and what it is."""
        key: dict[str, Any] = {}
        if self.storage_key is not None:
            key["storage_key"] = self.storage_key
        if self.storage_params:
            key["storage_params"] = dict(sorted(self.storage_params.items()))
        model_type = {"name": self.model_format}
        if self.format_version:
            model_type["version"] = self.format_version
        key["model_type"] = model_type
        if self.schema_path is not None:
            key["schema_path"] = self.schema_path
        return json.dumps(key, separators=(",", ":"))


def is_modelmesh(obj: Mapping[str, Any]) -> bool:
    """Is this InferenceService one for the mesh (and not for KServe's own controller)?"""
    return _annotations(obj).get(DEPLOYMENT_MODE_ANNOTATION) == MODELMESH_MODE


def from_inference_service(obj: Mapping[str, Any]) -> ModelSource:
    """The model of a ``serving.kserve.io/v1beta1`` InferenceService in ModelMesh mode."""
    meta = obj.get("metadata") or {}
    annotations = _annotations(obj)
    predictor = _mapping((obj.get("spec") or {}).get("predictor"), "spec.predictor")
    frameworks = [name for name in _FRAMEWORKS if predictor.get(name) is not None]
    model = predictor.get("model")
    if model is not None:
        model = _mapping(model, "spec.predictor.model")
        if frameworks:
            raise InvalidSpec(
                f"spec.predictor has both model and a framework spec ({frameworks[0]}); "
                "use only one"
            )
        if RUNTIME_ANNOTATION in annotations:
            raise InvalidSpec(
                f"use spec.predictor.model.runtime, not the {RUNTIME_ANNOTATION} annotation, "
                "with spec.predictor.model"
            )
        model_format = _mapping(model.get("modelFormat"), "spec.predictor.model.modelFormat")
        name = _text(model_format.get("name"), "spec.predictor.model.modelFormat.name")
        version = _optional_text(model_format.get("version"), "modelFormat.version")
        runtime = _optional_text(model.get("runtime"), "spec.predictor.model.runtime")
        impl = model
    elif frameworks:
        name = frameworks[0]
        impl = _mapping(predictor[name], f"spec.predictor.{name}")
        version = None
        runtime = annotations.get(RUNTIME_ANNOTATION) or None
    else:
        raise InvalidSpec("spec.predictor has no model (modelFormat and storageUri)")
    storage = _isvc_storage(impl, annotations)
    return ModelSource(
        source_id=ISVC_SOURCE,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        model_format=name,
        format_version=version,
        runtime=runtime,
        protocol_version=_optional_text(impl.get("protocolVersion"), "protocolVersion"),
        **storage,
    )


def _isvc_storage(impl: Mapping[str, Any], annotations: Mapping[str, str]) -> dict[str, Any]:
    """path, schema_path, storage_key and storage_params from storageUri or storage."""
    uri = _optional_text(impl.get("storageUri"), "storageUri")
    storage = _mapping(impl.get("storage") or {}, "storage")
    storage_path = _optional_text(storage.get("path"), "storage.path")
    uri_params: dict[str, str] = {}
    if uri is None:
        if storage_path is None:
            raise InvalidSpec("the model needs either storageUri or storage.path")
        path = storage_path
    elif storage_path is not None:
        raise InvalidSpec("storageUri and storage.path cannot both be given")
    else:
        path, uri_params = parse_storage_uri(uri)
    params = _params(storage.get("parameters"), "storage.parameters")
    params.update(uri_params)  # upstream: the URI's parameters win
    key = _optional_text(storage.get("key"), "storage.key")
    schema = _optional_text(storage.get("schemaPath"), "storage.schemaPath")
    return {
        "path": path,
        "schema_path": schema if schema is not None else annotations.get(SCHEMA_PATH_ANNOTATION),
        "storage_key": key if key is not None else annotations.get(SECRET_KEY_ANNOTATION),
        "storage_params": params,
    }


def parse_storage_uri(uri: str) -> tuple[str, dict[str, str]]:
    """The model path and storage parameters a ``storageUri`` stands for."""
    try:
        parts = urlsplit(uri)
    except ValueError as exc:
        raise InvalidSpec(f"storageUri {uri!r} is not a URI: {exc}") from None
    scheme, host, rel = parts.scheme, parts.netloc, parts.path.lstrip("/")
    if scheme == "s3":
        return rel, {"type": "s3", "bucket": host}
    if scheme == "gs":
        return rel, {"type": "gcs", "bucket": host}
    if scheme == "pvc":
        return rel, {"type": "pvc", "name": host}
    if scheme in ("http", "https"):
        if host.endswith(_AZURE_BLOB_HOST):
            container, _, blob = rel.partition("/")
            if not container:
                raise InvalidSpec(f"storageUri {uri!r} names no blob container")
            return blob, {
                "type": "azure",
                "account_name": host.split(".", 1)[0],
                "container": container,
            }
        return "", {"type": "http", "url": uri}
    if scheme == "file":
        # file:///abs/path or file://rel/path: a path on the runtime's own disk
        path = f"{host}/{rel}" if host else parts.path
        if not path.strip("/"):
            raise InvalidSpec(f"storageUri {uri!r} names no path")
        return path, {}
    raise InvalidSpec(
        f"storageUri scheme {scheme!r} is not supported; use s3://, gs://, pvc://, "
        "http(s):// or file://"
    )


def from_predictor(obj: Mapping[str, Any]) -> ModelSource:
    """The model of a ``serving.kserve.io/v1alpha1`` Predictor (modelmesh-serving's own)."""
    meta = obj.get("metadata") or {}
    spec = _mapping(obj.get("spec"), "spec")
    model_type = _mapping(spec.get("modelType"), "spec.modelType")
    storage = _mapping(spec.get("storage") or {}, "spec.storage")
    spec_path = _optional_text(spec.get("path"), "spec.path") or None
    spec_schema = _optional_text(spec.get("schemaPath"), "spec.schemaPath")
    storage_path = _optional_text(storage.get("path"), "spec.storage.path")
    storage_schema = _optional_text(storage.get("schemaPath"), "spec.storage.schemaPath")
    if storage_path is not None and spec_path is not None:
        raise InvalidSpec("only one of spec.path and spec.storage.path can be given")
    if storage_schema is not None and spec_schema is not None:
        raise InvalidSpec("only one of spec.schemaPath and spec.storage.schemaPath can be given")
    if storage.get("persistentVolumeClaim") is not None:
        raise InvalidSpec("spec.storage.persistentVolumeClaim is not supported")
    s3 = storage.get("s3")
    newer = ("path", "schemaPath", "parameters", "key")
    if s3 is not None and any(storage.get(name) is not None for name in newer):
        raise InvalidSpec("spec.storage.s3 cannot be given with any other spec.storage field")
    params = _params(storage.get("parameters"), "spec.storage.parameters")
    key = _optional_text(storage.get("key"), "spec.storage.key")
    if s3 is not None:
        s3 = _mapping(s3, "spec.storage.s3")
        key = _optional_text(s3.get("secretKey"), "spec.storage.s3.secretKey")
        if s3.get("bucket"):
            params = {"bucket": str(s3["bucket"])}
    runtime = _mapping(spec.get("runtime") or {}, "spec.runtime")
    return ModelSource(
        source_id=PREDICTOR_SOURCE,
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        model_format=_text(model_type.get("name"), "spec.modelType.name"),
        format_version=_optional_text(model_type.get("version"), "spec.modelType.version"),
        runtime=_optional_text(runtime.get("name"), "spec.runtime.name") or None,
        protocol_version=_optional_text(spec.get("protocolVersion"), "spec.protocolVersion"),
        path=storage_path if storage_path is not None else (spec_path or ""),
        schema_path=storage_schema if storage_schema is not None else spec_schema,
        storage_key=key,
        storage_params=params,
    )


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidSpec(f"{name} is missing or not an object")
    return value


def _params(value: Any, name: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in _mapping(value or {}, name).items()}


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidSpec(f"{name} is missing or empty")
    return value.strip()


def _optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidSpec(f"{name} must be a string")
    return value
