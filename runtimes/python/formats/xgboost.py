"""XGBoost boosters saved with ``save_model`` (.json, .ubj, or the legacy binary .bst/.model).

Output ``predict`` is what the booster predicts (class probabilities for ``multi:softprob``),
via ``inplace_predict``, which skips building a DMatrix and is safe to call concurrently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

from modelmesh.runtimes.python.formats.base import (
    FEATURES_INPUT,
    Format,
    Model,
    TensorSpec,
    feature_matrix,
    probe_outputs,
)


class XGBoostModel(Model):
    platform = "xgboost"

    def __init__(self, booster: xgboost.Booster) -> None:
        # one thread per prediction: requests run side by side, each small
        booster.set_param({"nthread": 1})
        self._booster = booster
        self._features = booster.num_features()
        self.inputs = (TensorSpec(FEATURES_INPUT, "FP32", (-1, self._features)),)
        self.outputs = probe_outputs(self._run, self._features)

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        parameters: Mapping[str, Any],
        requested: Sequence[str],
    ) -> dict[str, np.ndarray]:
        return self._run(feature_matrix(inputs, self.platform, self._features))

    def _run(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"predict": np.asarray(self._booster.inplace_predict(rows))}

    def held_bytes(self) -> int:
        return len(self._booster.save_raw("ubj"))


def load(path: Path) -> XGBoostModel:
    return XGBoostModel(xgboost.Booster(model_file=str(path)))


FORMAT = Format(
    name="xgboost", suffixes=(".json", ".ubj", ".bst", ".model"), load=load, disk_factor=1.25
)
