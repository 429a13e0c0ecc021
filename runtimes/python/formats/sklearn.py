"""scikit-learn models: any estimator with ``predict``, saved with joblib or pickle.

Output ``predict``; classifiers also offer ``predict_proba``, computed only when a request
asks for it. Loading unpickles, which runs code from the file: model files must be trusted,
which is why ``paths.py`` keeps every load inside the models root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from modelmesh.runtimes.python.formats.base import (
    FEATURES_INPUT,
    Format,
    Model,
    TensorSpec,
    feature_matrix,
    probe_outputs,
)
from modelmesh.runtimes.python.sizing import object_bytes


class SklearnModel(Model):
    platform = "sklearn"

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator
        self._features = int(getattr(estimator, "n_features_in_", 0))
        names = ["predict"]
        if callable(getattr(estimator, "predict_proba", None)):
            names.append("predict_proba")
        self._names = tuple(names)
        self.inputs = (TensorSpec(FEATURES_INPUT, "FP32", (-1, self._features or -1)),)
        self.outputs = probe_outputs(lambda rows: self._run(rows, self._names), self._features)

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        parameters: Mapping[str, Any],
        requested: Sequence[str],
    ) -> dict[str, np.ndarray]:
        rows = feature_matrix(inputs, self.platform, self._features)
        return self._run(rows, [name for name in requested if name in self._names] or ["predict"])

    def _run(self, rows: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
        return {name: np.asarray(getattr(self._estimator, name)(rows)) for name in names}

    def held_bytes(self) -> int:
        return object_bytes(self._estimator)


def load(path: Path) -> SklearnModel:
    estimator = joblib.load(path)  # reads plain pickles too
    if not callable(getattr(estimator, "predict", None)):
        raise TypeError(f"the file holds a {type(estimator).__name__}, which has no predict()")
    return SklearnModel(estimator)


FORMAT = Format(
    name="sklearn",
    suffixes=(".joblib", ".pkl", ".pickle"),
    load=load,
    disk_factor=1.25,
    runs_code=True,
)
