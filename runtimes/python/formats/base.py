"""What every model format provides: a loader and the ``Model`` it returns.

The runtime (``runtime.py``) resolves the path, picks the file, calls ``Format.load`` in a
loading thread and afterwards calls ``Model.predict`` with decoded tensors. Formats raise
ValueError for input the model cannot take; the runtime reports it as INVALID_ARGUMENT.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelmesh.runtimes.tensors import datatype_of

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TensorSpec:
    """A tensor in model metadata; -1 in ``shape`` means any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]


class Model(ABC):
    """A model in memory, ready to predict; shared by concurrent predictions."""

    platform: ClassVar[str]
    # metadata; empty when the model does not say
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()

    @abstractmethod
    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        parameters: Mapping[str, Any],
        requested: Sequence[str],
    ) -> dict[str, np.ndarray]:
        """The outputs: at least those in ``requested`` when given, else the defaults."""

    @abstractmethod
    def held_bytes(self) -> int:
        """Bytes the model holds by its own account (see ``sizing.py``)."""


@dataclass(frozen=True)
class Format:
    name: str
    # model file suffixes looked for in a model directory
    suffixes: tuple[str, ...]
    load: Callable[[Path], Model]
    # memory per byte on disk, for predictModelSize (measured, see sizing.py)
    disk_factor: float
    # one-time set-up before a load (importing a big library), kept out of its measurement
    prepare: Callable[[], None] | None = None
    # reading the file runs code from it (pickle): refused with RUNTIME_ALLOW_PICKLE=false
    runs_code: bool = False


# The name tabular formats give their one input in metadata; requests may use any name.
FEATURES_INPUT = "input-0"


def feature_matrix(inputs: Mapping[str, np.ndarray], platform: str, features: int) -> np.ndarray:
    """The one [rows, features] numeric input of a tabular model, checked."""
    if len(inputs) != 1:
        raise ValueError(
            f"{platform} models take one input tensor [rows, features], got {len(inputs)}"
        )
    name, matrix = next(iter(inputs.items()))
    if matrix.dtype.kind not in "biuf":
        raise ValueError(f"input {name!r} is {datatype_of(matrix)}; {platform} models take numbers")
    if matrix.ndim != 2:
        raise ValueError(
            f"input {name!r} has shape {list(matrix.shape)}; {platform} models take "
            f"[rows, features]"
        )
    if features > 0 and matrix.shape[1] != features:
        raise ValueError(
            f"input {name!r} has {matrix.shape[1]} features; the model takes {features}"
        )
    return matrix


def probe_outputs(
    predict: Callable[[np.ndarray], dict[str, np.ndarray]], features: int
) -> tuple[TensorSpec, ...]:
    """Output metadata from a warm-up prediction on one row of zeros.

    The warm-up also makes the library allocate what its first prediction needs while the
    load is being measured. A model that cannot predict zeros simply gets no metadata.
    """
    if features <= 0:
        return ()
    try:
        outputs = predict(np.zeros((1, features), dtype=np.float32))
    except Exception as exc:
        logger.warning("warm-up prediction on a row of zeros failed: %s", exc)
        return ()
    return tuple(
        TensorSpec(name, datatype_of(array), (-1, *array.shape[1:]))
        for name, array in outputs.items()
    )
