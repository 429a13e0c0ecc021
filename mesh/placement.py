"""Which instances may hold a model: type constraints from instance labels.

Pure functions over plain values. A model type is either a format name (``sklearn``),
served by instances labelled ``mt:sklearn``, or upstream's label expression
(``mt:onnx:1|pv:grpc-v2``, ``rt:my-runtime``): every ``|``-separated label must be
present. An instance with no ``mt:``/``rt:`` labels at all takes any type.
"""

from __future__ import annotations

from collections.abc import Iterable


def labels_for_formats(formats: Iterable[str]) -> frozenset[str]:
    """The labels an instance gets for the model formats its runtime serves."""
    return frozenset(f"mt:{name}" for name in formats)


def required_labels(model_type: str) -> frozenset[str]:
    if ":" in model_type:
        return frozenset(part.strip() for part in model_type.split("|") if part.strip())
    return frozenset({f"mt:{model_type}"})


def eligible(model_type: str, labels: frozenset[str]) -> bool:
    """May an instance with these labels load a model of this type?"""
    if not any(label.startswith(("mt:", "rt:")) for label in labels):
        return True
    return required_labels(model_type) <= labels
