"""One place that turns mesh and runtime errors into gRPC statuses."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from ..errors import MeshError
from ..runtime.client import RuntimeCallError

log = logging.getLogger(__name__)

T = TypeVar("T")


async def abort_with(context: grpc.aio.ServicerContext, exc: BaseException) -> None:
    """End the call with the status ``exc`` stands for (raises AbortError)."""
    if isinstance(exc, MeshError):
        await context.abort(exc.code, exc.message)
    if isinstance(exc, RuntimeCallError):
        await context.abort(exc.code, exc.message)
    log.error("internal error", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {exc}")


def grpc_errors(
    method: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Wrap a servicer method: MeshError -> its code; anything else -> INTERNAL, logged."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort_with(context, exc)
            raise AssertionError("unreachable: abort raises") from exc

    return wrapper
