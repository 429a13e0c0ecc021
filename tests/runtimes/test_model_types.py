"""The format a registration's model type and key name, as the built-in runtime and the
adapters both read it."""

from __future__ import annotations

import pytest

from modelmesh.runtimes.model_types import model_type_name


@pytest.mark.parametrize(
    ("model_type", "model_key", "expected"),
    [
        ("sklearn", "", "sklearn"),
        ("XGBoost", "", "xgboost"),
        ("mt:onnx", "", "onnx"),
        ("mt:lightgbm:3|pv:grpc-v2", "", "lightgbm"),
        ("mt:XGBoost:1|pv:v2", "", "xgboost"),
        ("rt:python-runtime", '{"model_type": {"name": "sklearn"}}', "sklearn"),
        ("rt:mlserver-1.x", '{"model_type": {"name": "lightgbm", "version": "4"}}', "lightgbm"),
        ("", '{"storage_key": "s", "model_type": {"name": "onnx", "version": "1"}}', "onnx"),
        ("", "not json", ""),
        ("rt:triton", "not json", ""),
        ("rt:x", '["list"]', ""),
    ],
)
def test_model_type_name(model_type: str, model_key: str, expected: str) -> None:
    assert model_type_name(model_type, model_key) == expected
