"""One place that turns mesh and runtime errors into gRPC statuses."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from ..errors import MeshError
from ..events import MeshObserver
from ..runtime.client import RuntimeCallError

log = logging.getLogger(__name__)

T = TypeVar("T")

# trailer telling a forwarding instance that another instance may still succeed
FAULT_HEADER = "mm-fault"


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """End the call with the status ``exc`` stands for (raises AbortError)."""
    if isinstance(exc, MeshError):
        if exc.fault is not None:
            context.set_trailing_metadata(((FAULT_HEADER, exc.fault),))
        await context.abort(exc.code, exc.message)
    if isinstance(exc, RuntimeCallError):
        await context.abort(exc.code, exc.message)
    log.error("internal error", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {exc}")


def grpc_errors(
    method: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Wrap a servicer method: MeshError -> its code; anything else -> INTERNAL, logged.
    The servicer's ``observer`` hears of every call."""

    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        started = time.perf_counter()
        code = "OK"
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            code = "CANCELLED"
            raise
        except Exception as exc:
            code = exc.code.name if isinstance(exc, MeshError | RuntimeCallError) else "INTERNAL"
            await abort_with(context, exc)
            raise AssertionError("unreachable: abort raises") from exc
        finally:
            observer: MeshObserver = self.observer
            observer.api_called(name, code, (time.perf_counter() - started) * 1000)

    return wrapper
