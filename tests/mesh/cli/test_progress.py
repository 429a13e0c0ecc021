"""Waiting for a load: a line per change in logs, one redrawn line on a terminal."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import pytest

from modelmesh.mesh.cli.errors import CommandError
from modelmesh.mesh.cli.progress import POLL_INTERVAL, wait_for


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """Time that moves only when the waiter sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _polls(states: list[str]) -> Callable[[], str]:
    it: Iterator[str] = iter(states)
    return lambda: next(it)


def _wait(states: list[str], stream: io.StringIO, timeout: float | None = None) -> str:
    clock = Clock()
    return wait_for(
        _polls(states),
        lambda state: f"model m: {state}",
        lambda state: state in ("LOADED", "LOADING_FAILED"),
        timeout=timeout,
        stream=stream,
        clock=clock,
        sleep=clock.sleep,
    )


def test_a_line_per_status_change_when_not_a_terminal() -> None:
    stream = io.StringIO()
    assert _wait(["NOT_LOADED", "LOADING", "LOADING", "LOADING", "LOADED"], stream) == "LOADED"
    assert stream.getvalue().splitlines() == [
        "model m: NOT_LOADED (0.0s)",
        "model m: LOADING (0.5s)",
        "model m: LOADED (2.0s)",
    ]


def test_one_line_redrawn_with_elapsed_seconds_on_a_terminal() -> None:
    stream = Terminal()
    assert _wait(["LOADING"] * 4 + ["LOADING_FAILED"], stream) == "LOADING_FAILED"
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 5
    assert text.endswith("\r\x1b[Kmodel m: LOADING_FAILED (2s)\n")


def test_gives_up_after_the_timeout() -> None:
    stream = io.StringIO()
    with pytest.raises(CommandError, match=r"gave up after 1s: model m: LOADING"):
        _wait(["LOADING"] * 10, stream, timeout=2 * POLL_INTERVAL)
