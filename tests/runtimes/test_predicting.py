"""Where predictions run: inline for cheap models and small requests, else in a thread."""

from __future__ import annotations

from modelmesh.runtimes.python.predicting import INLINE_BUDGET_S, INLINE_MAX_BYTES, PredictionTimes


def test_a_models_first_prediction_runs_in_a_thread() -> None:
    assert not PredictionTimes().runs_inline(0)


def test_cheap_models_run_small_requests_inline() -> None:
    times = PredictionTimes()
    times.record(INLINE_BUDGET_S / 10)
    assert times.runs_inline(INLINE_MAX_BYTES)
    assert not times.runs_inline(INLINE_MAX_BYTES + 1)


def test_a_slow_prediction_moves_a_model_to_threads_until_it_is_cheap_again() -> None:
    times = PredictionTimes()
    times.record(INLINE_BUDGET_S / 10)
    times.record(INLINE_BUDGET_S * 20)
    assert not times.runs_inline(0)
    for _ in range(20):
        times.record(INLINE_BUDGET_S / 10)
    assert times.runs_inline(0)
