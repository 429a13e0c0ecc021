"""Native thread pools (BLAS, OpenMP) held at one thread wherever the runtime predicts or loads.

A runtime serves many tiny models to many concurrent requests; a library that spreads one
small matrix product over every core only adds contention, and on a busy machine it made
fits and predictions up to 100x slower. ``threadpoolctl`` sets the limit, but OpenMP's
applies per calling thread and a library loaded later starts with its own default, so the
limit is re-applied in a thread whenever libraries were loaded since it last was.

Applying it costs ~10 µs and happens once per thread per change; finding the libraries
(~17 ms) happens after a load that imported modules, outside any prediction.
"""

from __future__ import annotations

import sys
import threading

from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]


class NativeThreads:
    """The one-thread limit, kept up to date with the libraries loaded into the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._controller = ThreadpoolController()
        self._generation = 0
        self._modules = len(sys.modules)

    def refresh(self) -> None:
        """Find newly loaded libraries, if any module was imported since the last look."""
        with self._lock:
            if len(sys.modules) == self._modules:
                return
            self._modules = len(sys.modules)
            self._controller = ThreadpoolController()
            self._generation += 1

    def limit_here(self) -> None:
        """Hold every known library to one thread for calls from the current thread."""
        if getattr(self._local, "generation", -1) != self._generation:
            self._local.generation = self._generation
            self._controller.limit(limits=1)
