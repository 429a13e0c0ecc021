"""Waiting for a model or vmodel to settle, reported on stderr while it lasts.

On a terminal one line is redrawn in place with the elapsed time; otherwise (a log, a
pipe) a line is written per status change, so CI logs stay short.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO, TypeVar

from modelmesh.mesh.cli.errors import CommandError

T = TypeVar("T")

POLL_INTERVAL = 0.5


class Progress:
    def __init__(self, stream: TextIO, clock: Callable[[], float]) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._clock = clock
        self._start = clock()
        self._last: str | None = None

    def elapsed(self) -> float:
        return self._clock() - self._start

    def show(self, status: str) -> None:
        if self._live:
            # \r and "erase to end of line": the new text replaces the old in place
            self._stream.write(f"\r\x1b[K{status} ({self.elapsed():.0f}s)")
        elif status != self._last:
            self._stream.write(f"{status} ({self.elapsed():.1f}s)\n")
        self._stream.flush()
        self._last = status

    def close(self) -> None:
        if self._live and self._last is not None:
            self._stream.write("\n")
            self._stream.flush()


def wait_for(
    poll: Callable[[], T],
    describe: Callable[[T], str],
    settled: Callable[[T], bool],
    *,
    timeout: float | None,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Poll until ``settled``; ``timeout`` (seconds, None: no limit) bounds the whole wait."""
    progress = Progress(stream or sys.stderr, clock)
    try:
        while True:
            state = poll()
            progress.show(describe(state))
            if settled(state):
                return state
            if timeout is not None and progress.elapsed() >= timeout:
                raise CommandError(f"gave up after {timeout:g}s: {describe(state)}")
            sleep(POLL_INTERVAL)
    finally:
        progress.close()
