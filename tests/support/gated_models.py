"""A custom model whose predictions wait at a gate the test opens: requests stay in flight
for as long as a test needs them there (``MM_CUSTOM_MODEL_CLASSES=gated=...:GatedModel``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from modelmesh.runtimes.python.custom import CustomModel

# a prediction never waits longer than this, so a failing test cannot hang
_MAX_WAIT_S = 30.0


class GatedModel(CustomModel):
    """Echoes its inputs once ``gate`` is set; ``inside`` counts predictions waiting."""

    gate = threading.Event()
    lock = threading.Lock()
    inside = 0

    @classmethod
    def close(cls) -> None:
        cls.gate.clear()
        with cls.lock:
            cls.inside = 0

    def load(self, path: Path) -> None:
        self.path = path

    def predict(self, inputs: dict[str, np.ndarray], parameters: dict) -> dict[str, np.ndarray]:
        cls = type(self)
        with cls.lock:
            cls.inside += 1
        try:
            cls.gate.wait(_MAX_WAIT_S)
            time.sleep(0.001)  # never cheap enough for the runtime to run it inline
            return dict(inputs)
        finally:
            with cls.lock:
                cls.inside -= 1
