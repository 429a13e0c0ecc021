"""LightGBM boosters saved as text models (.txt, .model).

Output ``predict`` is what the booster predicts (class probabilities for ``multiclass``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np

from modelmesh.runtimes.python.formats.base import (
    FEATURES_INPUT,
    Format,
    Model,
    TensorSpec,
    feature_matrix,
    probe_outputs,
)


class LightGBMModel(Model):
    platform = "lightgbm"

    def __init__(self, booster: lightgbm.Booster, file_bytes: int) -> None:
        self._booster = booster
        self._file_bytes = file_bytes
        self._features = booster.num_feature()
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
        # one thread per prediction: requests run side by side, each small
        return {"predict": np.asarray(self._booster.predict(rows, num_threads=1))}

    def held_bytes(self) -> int:
        # the booster is its text model parsed; the text's size is the lower bound
        return self._file_bytes


def load(path: Path) -> LightGBMModel:
    return LightGBMModel(lightgbm.Booster(model_file=str(path)), path.stat().st_size)


FORMAT = Format(name="lightgbm", suffixes=(".txt", ".model"), load=load, disk_factor=1.6)
