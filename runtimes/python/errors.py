"""The errors the built-in runtime reports, each carrying the gRPC status it maps to.

```
RuntimeFailure                 base; ``code`` is the gRPC status, ``message`` says what to fix
├── ModelNotLoaded             NOT_FOUND: no model of that id is loaded here
├── InvalidRequest             INVALID_ARGUMENT: bad tensors, outputs, model type or path
├── ModelFileMissing           FAILED_PRECONDITION: nothing to load at the path; nothing tried
├── FormatRefused              FAILED_PRECONDITION: the format runs code on load; not allowed
├── FormatUnavailable          FAILED_PRECONDITION: the format's library is not installed
├── LoadFailed                 INTERNAL: the library could not load the file
├── LoadTimedOut               DEADLINE_EXCEEDED: the load outlived the loading timeout
├── PullFailed                 the storage error's code: the model could not be pulled
└── LoadAbandoned              ABORTED: the model was unloaded while it was loading
```

Servicers (the built-in runtime's and the adapter's) wrap every method in ``translated``,
which turns these into ``context.abort(code, message)``; the in-process client turns them
into the mesh's ``RuntimeCallError``. Anything else escaping the runtime is a bug: INTERNAL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

logger = logging.getLogger(__name__)

_Servicer = TypeVar("_Servicer")
_Request = TypeVar("_Request")
_Response = TypeVar("_Response")
_Handler = Callable[[_Servicer, _Request, grpc.aio.ServicerContext], Awaitable[_Response]]


class RuntimeFailure(Exception):
    """A request the runtime could not serve; ``code`` and ``message`` go to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelNotLoaded(RuntimeFailure):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, model_id: str) -> None:
        super().__init__(f"model {model_id} is not loaded")


class InvalidRequest(RuntimeFailure):
    code = grpc.StatusCode.INVALID_ARGUMENT


class ModelFileMissing(RuntimeFailure):
    code = grpc.StatusCode.FAILED_PRECONDITION


class FormatUnavailable(RuntimeFailure):
    code = grpc.StatusCode.FAILED_PRECONDITION


class FormatRefused(RuntimeFailure):
    """The model's format runs code from the file when read, and this runtime is told not
    to read such formats (``RUNTIME_ALLOW_PICKLE=false``)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class LoadFailed(RuntimeFailure):
    code = grpc.StatusCode.INTERNAL


class LoadTimedOut(RuntimeFailure):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class LoadAbandoned(RuntimeFailure):
    code = grpc.StatusCode.ABORTED


class PullFailed(RuntimeFailure):
    """A model that could not be pulled from storage, with the storage error's code."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code


def describe(exc: BaseException) -> str:
    """An exception as one short line: native libraries append stack traces to messages."""
    text = str(exc).split("Stack trace:", 1)[0]
    summary = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if len(summary) > 400:
        summary = summary[:400] + "..."
    return f"{type(exc).__name__}: {summary}" if summary else type(exc).__name__


def translated(
    method: _Handler[_Servicer, _Request, _Response],
) -> _Handler[_Servicer, _Request, _Response]:
    """A servicer method whose ``RuntimeFailure`` becomes ``context.abort(code, message)``;
    any other exception is logged with its traceback and reported as INTERNAL, so no request
    can take the process down."""

    @functools.wraps(method)
    async def handler(
        self: _Servicer, request: _Request, context: grpc.aio.ServicerContext
    ) -> _Response:
        try:
            return await method(self, request, context)
        except RuntimeFailure as failure:
            await context.abort(failure.code, failure.message)
        except Exception as exc:
            logger.exception("%s failed", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        raise AssertionError("unreachable: context.abort raises")

    return handler
