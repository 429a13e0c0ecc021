"""The model formats the built-in runtime serves, one small module each, keyed by name.

Each module defines ``FORMAT`` (``base.Format``): file suffixes, a loader returning a
``base.Model``, and its memory-per-disk-byte factor. Custom Python models are not a format
here; ``custom.py`` wraps them into the same ``Model`` interface. ``pytorch`` imports its
optional library only when a model of it is loaded.
"""

from __future__ import annotations

from modelmesh.runtimes.python.formats import lightgbm, onnx, pytorch, sklearn, xgboost
from modelmesh.runtimes.python.formats.base import Format, Model, TensorSpec

BUILT_IN: dict[str, Format] = {
    module.FORMAT.name: module.FORMAT for module in (sklearn, xgboost, lightgbm, onnx, pytorch)
}

__all__ = ["BUILT_IN", "Format", "Model", "TensorSpec"]
