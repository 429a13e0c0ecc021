"""One load per model id, however many ask: the built-in runtime's and the adapters' rule.

``load_once`` starts a load as a task kept in the caller's ``loading`` map, or joins the one
already running, and waits for it shielded: a caller going away does not abort a load
others may wait for, while a load cancelled by an unload reaches its callers as
``LoadAbandoned``. The task leaves the map when it ends; a failed one is logged.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from modelmesh.runtimes.python.errors import LoadAbandoned

logger = logging.getLogger(__name__)

_Loaded = TypeVar("_Loaded")


async def load_once(
    loading: dict[str, asyncio.Task[_Loaded]],
    model_id: str,
    start: Callable[[], Coroutine[Any, Any, _Loaded]],
) -> _Loaded:
    """What the load of ``model_id`` gives; ``start()`` makes the load's coroutine and runs
    only when no load of that id is running (an error it raises goes to this caller)."""
    task = loading.get(model_id)
    if task is None:
        task = asyncio.create_task(start(), name=f"load {model_id}")
        loading[model_id] = task
        task.add_done_callback(functools.partial(_forget, loading, model_id))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if task.cancelled() and not (current and current.cancelling()):
            raise LoadAbandoned(f"model {model_id} was unloaded while loading") from None
        raise


def _forget(
    loading: dict[str, asyncio.Task[_Loaded]], model_id: str, task: asyncio.Task[_Loaded]
) -> None:
    if loading.get(model_id) is task:
        del loading[model_id]
    if not task.cancelled() and task.exception() is not None:
        logger.warning("loading model %s failed: %s", model_id, task.exception())
