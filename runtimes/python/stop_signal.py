"""Waiting, in a runtime's process, for the signal that asks it to stop.

``modelmesh runtime`` and ``modelmesh adapter`` serve until SIGINT (a terminal) or SIGTERM
(Kubernetes stopping the pod), then drain and stop; ``until_stop_signal`` is the waiting.
"""

from __future__ import annotations

import asyncio
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def until_stop_signal() -> None:
    """Return at the first SIGINT or SIGTERM; the default handlers are back afterwards."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
