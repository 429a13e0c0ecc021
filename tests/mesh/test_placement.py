"""Type constraints: which instance labels admit which model types."""

from __future__ import annotations

import pytest

from modelmesh.mesh.placement import eligible, labels_for_formats

SKLEARN_XGB = labels_for_formats(["sklearn", "xgboost"])


@pytest.mark.parametrize(
    ("model_type", "labels", "expected"),
    [
        ("sklearn", SKLEARN_XGB, True),
        ("onnx", SKLEARN_XGB, False),
        ("mt:xgboost", SKLEARN_XGB, True),
        ("mt:sklearn|pv:grpc-v2", SKLEARN_XGB, False),
        ("mt:sklearn|pv:grpc-v2", SKLEARN_XGB | {"pv:grpc-v2"}, True),
        ("rt:custom", frozenset({"rt:custom"}), True),
        ("anything", frozenset(), True),  # an unlabelled instance takes any type
        ("anything", frozenset({"zone:a"}), True),
    ],
)
def test_eligible(model_type: str, labels: frozenset[str], expected: bool) -> None:
    assert eligible(model_type, labels) is expected
