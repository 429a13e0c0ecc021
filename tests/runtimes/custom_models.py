"""Custom model classes the runtime tests register through ``MM_CUSTOM_MODEL_CLASSES``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from modelmesh.runtimes.python.custom import CustomModel
from modelmesh.runtimes.python.formats import TensorSpec


class SleepyModel(CustomModel):
    """Sleeps as many seconds as its file says while loading; counts loads running at once."""

    lock = threading.Lock()
    running = 0
    most_running = 0
    loads = 0
    finished = threading.Event()  # set whenever a load ends, timed out or not

    @classmethod
    def reset(cls) -> None:
        with cls.lock:
            cls.running = cls.most_running = cls.loads = 0
        cls.finished.clear()

    def load(self, path: Path) -> None:
        cls = type(self)
        with cls.lock:
            cls.loads += 1
            cls.running += 1
            cls.most_running = max(cls.most_running, cls.running)
        try:
            time.sleep(float(path.read_text()))
        finally:
            with cls.lock:
                cls.running -= 1
            cls.finished.set()

    def predict(self, inputs: dict[str, np.ndarray], parameters: dict) -> dict[str, np.ndarray]:
        return dict(inputs)


class EchoModel(CustomModel):
    """Returns its inputs times the number in its file, plus where and with what it ran.

    An input named ``bad`` raises ValueError, one named ``crash`` raises RuntimeError.
    """

    inputs = (TensorSpec("x", "FP64", (-1,)),)
    outputs = (TensorSpec("y", "FP64", (-1,)), TensorSpec("thread", "BYTES", (1,)))

    def load(self, path: Path) -> None:
        self.factor = float(path.read_text())

    def predict(self, inputs: dict[str, np.ndarray], parameters: dict) -> dict[str, np.ndarray]:
        if "bad" in inputs:
            raise ValueError("an input named bad is refused")
        if "crash" in inputs:
            raise RuntimeError("the model fell over")
        return {
            "y": next(iter(inputs.values())) * self.factor,
            "thread": np.array([threading.current_thread().name.encode()], dtype=object),
            "parameters": np.array([f"{k}={v!r}" for k, v in sorted(parameters.items())]),
        }

    def size_bytes(self) -> int:
        return 123_456
