"""One prediction: where it runs (inline or in a thread), the call, and its errors.

Where: a hand-off to a thread and back costs 100-200 µs of CPU here (measured with
``run_in_executor`` and ``asyncio.to_thread`` alike), as much as a whole scikit-learn or
xgboost prediction on one row (~90 µs) and 20x an onnxruntime one (~6 µs). Running those
inline on the event loop is cheaper, and blocks it no longer than a gRPC call's own
handling does. A slow model (a 40-tree forest takes 1.4 ms per row) or a big batch would
stall every other request and the mesh's own work, so those go to a thread. The runtime
cannot know in advance, so each model keeps a moving average of its prediction times:
small requests to a model averaging under ``INLINE_BUDGET_S`` run inline, all others (and
a model's first prediction) in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelmesh.runtimes.python.errors import InvalidRequest, RuntimeFailure, describe
from modelmesh.runtimes.python.formats import Model

INLINE_BUDGET_S = 0.0003
# Requests above this many input bytes always go to a thread, whatever the average says.
INLINE_MAX_BYTES = 64 * 1024
# Weight of the newest sample in the moving average.
_SMOOTHING = 0.2


class PredictionTimes:
    """A moving average of one model's prediction times, deciding where the next one runs.

    Updated from several threads without a lock: a lost update only nudges an average.
    """

    def __init__(self) -> None:
        self.average_s: float | None = None

    def runs_inline(self, request_bytes: int) -> bool:
        average = self.average_s
        return (
            average is not None
            and average < INLINE_BUDGET_S
            and (request_bytes <= INLINE_MAX_BYTES)
        )

    def record(self, seconds: float) -> None:
        average = self.average_s
        self.average_s = seconds if average is None else average + _SMOOTHING * (seconds - average)


def predict(
    model_id: str,
    model: Model,
    times: PredictionTimes,
    inputs: dict[str, np.ndarray],
    parameters: dict[str, Any],
    requested: Sequence[str],
) -> dict[str, np.ndarray]:
    """``model``'s outputs: those ``requested``, in that order, else its defaults."""
    started = time.perf_counter()
    try:
        outputs = model.predict(inputs, parameters, requested)
    except RuntimeFailure:
        raise
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"model {model_id} cannot take this input: {describe(exc)}") from exc
    finally:
        times.record(time.perf_counter() - started)
    if not requested:
        return outputs
    missing = [name for name in requested if name not in outputs]
    if missing:
        known = {spec.name for spec in model.outputs} | set(outputs)
        raise InvalidRequest(
            f"model {model_id} has no output {', '.join(map(repr, missing))}; "
            f"it has {', '.join(sorted(known))}"
        )
    return {name: outputs[name] for name in requested}
