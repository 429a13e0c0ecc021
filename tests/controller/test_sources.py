"""InferenceService and Predictor specs into ModelSources: storage, types, keys, ids."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from modelmesh.controller.sources import (
    InvalidSpec,
    ModelSource,
    from_inference_service,
    from_predictor,
    is_modelmesh,
    parse_storage_uri,
)


def _isvc(
    model: dict[str, Any] | None = None, annotations: dict[str, str] | None = None, **predictor: Any
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "example-sklearn-isvc",
            "namespace": "ns",
            "annotations": {"serving.kserve.io/deploymentMode": "ModelMesh", **(annotations or {})},
        },
        "spec": {"predictor": {**({"model": model} if model is not None else {}), **predictor}},
    }


@pytest.mark.parametrize(
    ("uri", "path", "params"),
    [
        (
            "s3://modelmesh-example-models/sklearn/mnist-svm.joblib",
            "sklearn/mnist-svm.joblib",
            {"type": "s3", "bucket": "modelmesh-example-models"},
        ),
        ("gs://bucket/a/b", "a/b", {"type": "gcs", "bucket": "bucket"}),
        ("pvc://my-claim/models/m.joblib", "models/m.joblib", {"type": "pvc", "name": "my-claim"}),
        (
            "https://acct.blob.core.windows.net/cont/dir/m.onnx",
            "dir/m.onnx",
            {"type": "azure", "account_name": "acct", "container": "cont"},
        ),
        (
            "https://example.test/m.joblib?x=1",
            "",
            {"type": "http", "url": "https://example.test/m.joblib?x=1"},
        ),
        ("file:///models/sklearn/m.joblib", "/models/sklearn/m.joblib", {}),
        ("file://sklearn/m.joblib", "sklearn/m.joblib", {}),
    ],
)
def test_storage_uris_map_as_upstream(uri: str, path: str, params: dict[str, str]) -> None:
    assert parse_storage_uri(uri) == (path, params)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("ftp://host/m", "scheme 'ftp'"),
        ("file://", "names no path"),
        ("https://x.blob.core.windows.net/", "container"),
    ],
)
def test_bad_storage_uris_are_invalid(uri: str, message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        parse_storage_uri(uri)


def test_the_docs_example_maps_to_upstream_registration() -> None:
    source = from_inference_service(
        _isvc(
            {
                "modelFormat": {"name": "sklearn"},
                "storageUri": "s3://modelmesh-example-models/sklearn/mnist-svm.joblib",
            }
        )
    )
    assert (source.vmodel_id, source.owner, source.namespace) == (
        "example-sklearn-isvc",
        "isvc",
        "ns",
    )
    assert re.fullmatch(r"example-sklearn-isvc__isvc-[0-9a-f]{10}", source.model_id)
    assert source.model_type == "mt:sklearn"
    assert source.path == "sklearn/mnist-svm.joblib"
    assert source.model_key == (
        '{"storage_params":{"bucket":"modelmesh-example-models","type":"s3"},'
        '"model_type":{"name":"sklearn"}}'
    )


def test_storage_block_key_parameters_and_schema() -> None:
    source = from_inference_service(
        _isvc(
            {
                "modelFormat": {"name": "onnx", "version": "1"},
                "storageUri": "s3://uri-bucket/m.onnx",
                "storage": {
                    "key": "localMinIO",
                    "parameters": {"bucket": "ignored", "region": "eu"},
                    "schemaPath": "schema.json",
                },
            }
        )
    )
    assert source.storage_params == {"type": "s3", "bucket": "uri-bucket", "region": "eu"}
    assert json.loads(source.model_key) == {
        "storage_key": "localMinIO",
        "storage_params": {"bucket": "uri-bucket", "region": "eu", "type": "s3"},
        "model_type": {"name": "onnx", "version": "1"},
        "schema_path": "schema.json",
    }
    assert source.model_type == "mt:onnx:1"


def test_storage_path_and_annotations_for_key_and_schema() -> None:
    source = from_inference_service(
        _isvc(
            {"modelFormat": {"name": "sklearn"}, "storage": {"path": "sklearn/m.joblib"}},
            annotations={
                "serving.kserve.io/secretKey": "default",
                "serving.kserve.io/schemaPath": "s.json",
            },
        )
    )
    assert (source.path, source.storage_key, source.schema_path) == (
        "sklearn/m.joblib",
        "default",
        "s.json",
    )
    assert source.storage_params == {}


def test_named_runtime_and_protocol_give_upstream_type_labels() -> None:
    named = from_inference_service(
        _isvc(
            {
                "modelFormat": {"name": "sklearn"},
                "runtime": "mlserver-1.x",
                "storageUri": "s3://b/m",
            }
        )
    )
    assert named.model_type == "rt:mlserver-1.x"
    versioned = from_inference_service(
        _isvc(
            {
                "modelFormat": {"name": "xgboost", "version": "1"},
                "protocolVersion": "grpc-v2",
                "storageUri": "s3://b/m",
            }
        )
    )
    assert versioned.model_type == "mt:xgboost:1|pv:grpc-v2"


def test_legacy_framework_spec_with_runtime_annotation() -> None:
    source = from_inference_service(
        _isvc(
            annotations={"serving.kserve.io/servingRuntime": "triton-2.x"},
            onnx={"storageUri": "s3://b/m.onnx"},
        )
    )
    assert (source.model_format, source.runtime, source.path) == ("onnx", "triton-2.x", "m.onnx")


@pytest.mark.parametrize(
    ("isvc", "message"),
    [
        (_isvc({"modelFormat": {"name": "sklearn"}}), "either storageUri or storage.path"),
        (
            _isvc(
                {
                    "modelFormat": {"name": "sklearn"},
                    "storageUri": "s3://b/m",
                    "storage": {"path": "p"},
                }
            ),
            "cannot both be given",
        ),
        (_isvc({"storageUri": "s3://b/m"}), "modelFormat"),
        (_isvc({"modelFormat": {"name": ""}, "storageUri": "s3://b/m"}), "modelFormat.name"),
        (_isvc(), "no model"),
        (
            _isvc(
                {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://b/m"},
                sklearn={"storageUri": "s3://b/m"},
            ),
            "both model and a framework",
        ),
        (
            _isvc(
                {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://b/m"},
                annotations={"serving.kserve.io/servingRuntime": "x"},
            ),
            "not the serving.kserve.io/servingRuntime annotation",
        ),
        (
            _isvc({"modelFormat": {"name": "sklearn"}, "storageUri": 7}),
            "storageUri must be a string",
        ),
    ],
)
def test_invalid_inference_services(isvc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        from_inference_service(isvc)


def test_only_modelmesh_mode_is_ours() -> None:
    assert is_modelmesh(_isvc())
    other = _isvc()
    other["metadata"]["annotations"] = {"serving.kserve.io/deploymentMode": "Serverless"}
    assert not is_modelmesh(other) and not is_modelmesh({"metadata": {}})


def test_any_spec_change_is_a_new_model_id() -> None:
    base = ModelSource("isvc", "ns", "m", "sklearn", path="a")
    assert base.model_id == ModelSource("isvc", "other-ns", "m", "sklearn", path="a").model_id
    changed = [
        ModelSource("isvc", "ns", "m", "sklearn", path="b"),
        ModelSource("isvc", "ns", "m", "sklearn", "1", path="a"),
        ModelSource("isvc", "ns", "m", "sklearn", runtime="r", path="a"),
        ModelSource("isvc", "ns", "m", "sklearn", path="a", storage_key="k"),
        ModelSource("isvc", "ns", "m", "sklearn", path="a", storage_params={"bucket": "x"}),
        ModelSource("isvc", "ns", "m", "xgboost", path="a"),
    ]
    assert len({base.model_id, *(s.model_id for s in changed)}) == len(changed) + 1
    assert ModelSource("ksp", "ns", "m", "sklearn", path="a").model_id.startswith("m__ksp-")


def _predictor(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"modelType": {"name": "sklearn"}, **spec},
    }


def test_predictor_fields_and_deprecated_s3_block() -> None:
    source = from_predictor(
        _predictor(
            path="models/m.joblib",
            runtime={"name": "mlserver-1.x"},
            storage={"s3": {"secretKey": "localMinIO", "bucket": "models"}},
        )
    )
    assert (source.owner, source.path, source.runtime) == ("ksp", "models/m.joblib", "mlserver-1.x")
    assert (source.storage_key, dict(source.storage_params)) == ("localMinIO", {"bucket": "models"})
    newer = from_predictor(
        _predictor(storage={"path": "m", "key": "k", "parameters": {"bucket": "b"}})
    )
    assert (newer.path, newer.storage_key, dict(newer.storage_params)) == (
        "m",
        "k",
        {"bucket": "b"},
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"path": "a", "storage": {"path": "b"}}, "spec.path and spec.storage.path"),
        ({"schemaPath": "a", "storage": {"schemaPath": "b"}}, "schemaPath"),
        ({"storage": {"persistentVolumeClaim": {"claimName": "c"}}}, "not supported"),
        ({"storage": {"s3": {"secretKey": "k"}, "key": "other"}}, "s3 cannot be given"),
        ({"modelType": {}}, "spec.modelType.name"),
    ],
)
def test_invalid_predictors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        from_predictor(_predictor(**spec))
