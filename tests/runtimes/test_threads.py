"""Native thread pools are held at one thread in the threads that load and predict."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

from modelmesh.runtimes.python.custom import CustomModel
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.python.threads import NativeThreads
from modelmesh.runtimes.tensors import build_infer_request, response_arrays


def _most_threads() -> int:
    """The largest thread count any native pool would use for a call from this thread."""
    return max(pool["num_threads"] for pool in threadpool_info())


class ThreadCounter(CustomModel):
    """Reports the native thread counts seen while loading and while predicting."""

    def load(self, path: Path) -> None:
        self.at_load = _most_threads()

    def predict(self, inputs: dict[str, np.ndarray], parameters: dict) -> dict[str, np.ndarray]:
        return {"load": np.array([self.at_load]), "predict": np.array([_most_threads()])}


def test_limit_applies_in_each_thread() -> None:
    native = NativeThreads()
    seen: list[int] = []

    def work() -> None:
        native.limit_here()
        seen.append(_most_threads())

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [1, 1, 1]


@pytest.mark.skipif(_most_threads() < 2, reason="the pools already use one thread here")
async def test_loads_and_predictions_run_with_one_native_thread(
    settings: RuntimeSettings, tmp_path: Path
) -> None:
    (tmp_path / "counter").write_text("")
    runtime = PythonRuntime(
        dataclasses.replace(
            settings,
            models_root=tmp_path,
            custom_model_classes={"counter": "tests.runtimes.test_threads:ThreadCounter"},
        )
    )
    try:
        await runtime.load("m1", "counter", "counter", "")
        request = build_infer_request("m1", {"x": np.zeros((1, 1), np.float32)})
        for _ in range(3):  # the first runs in a thread, later ones may run inline
            outputs = response_arrays(await runtime.infer(request))
            assert (outputs["load"][0], outputs["predict"][0]) == (1, 1)
    finally:
        await runtime.close()
