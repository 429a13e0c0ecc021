"""Observers of the mesh's events (``mesh/events.py``): Prometheus metrics and log lines.

``build_observers`` makes the ones the settings ask for; ``app.py`` hands the result to
the loader, router and API, and ``frontends.py`` serves the metrics.
"""

from __future__ import annotations

from ..events import MeshObserver, Observers
from ..settings import Settings
from .logs import LogObserver, configure_logging
from .metrics import MetricsObserver, metrics_app

__all__ = [
    "LogObserver",
    "MetricsObserver",
    "build_observers",
    "configure_logging",
    "metrics_app",
]


def build_observers(
    settings: Settings, extra: MeshObserver | None = None
) -> tuple[MeshObserver, MetricsObserver | None]:
    """The observer to wire in (logs, metrics unless disabled, and ``extra``), and the
    metrics observer alone, to be served."""
    metrics = MetricsObserver(settings.metrics) if settings.metrics.enabled else None
    chain: list[MeshObserver] = [LogObserver(each_invoke=settings.logs.each_invoke)]
    if metrics is not None:
        chain.append(metrics)
    if extra is not None:
        chain.append(extra)
    return Observers(chain), metrics
