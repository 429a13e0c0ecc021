"""A server process of the benchmark: started in its own session (Ray and MLServer start
children of their own), logged to a file, stopped with SIGTERM to its whole group and
SIGKILL if it lingers. Only groups this harness started are ever signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from bench.peers.workload import process_tree, rss_bytes


class ServerProcess:
    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.args,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    async def wait_until(
        self, ready: Callable[[], Awaitable[bool]], timeout_s: float = 120.0
    ) -> float:
        """Poll ``ready`` until it says yes; seconds since the start. Raises with the log
        tail if the process exits or the time runs out first."""
        deadline = time.monotonic() + timeout_s
        began = time.monotonic()
        while True:
            if not self.running:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                if await ready():
                    return time.monotonic() - began
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} not ready after {timeout_s} s:\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    def rss(self) -> int:
        """Resident bytes of the process and every child it started."""
        return rss_bytes(process_tree(self.pid)) if self.running else 0

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is None:
            return
        group = self.process.pid  # its own session: group id = its pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout_s)
        # children (Ray's raylet, workers) may outlive the leader; end the group either way
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
