"""Errors of the adapters: the built-in runtime's ``RuntimeFailure`` tree, plus the server's.

```
RuntimeFailure (runtimes/python/errors.py)   code + message, sent to the mesh as they are
├── InvalidRequest, ModelFileMissing, ModelNotLoaded, LoadTimedOut, LoadAbandoned
├── ServerError         the server refused or failed a call: its message, the code its
│                       HTTP or gRPC status maps to (``code_for_http``)
└── ServerUnreachable   UNAVAILABLE: no answer from the server at all
```
"""

from __future__ import annotations

import grpc

from modelmesh.runtimes.python.errors import RuntimeFailure

_HTTP_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def code_for_http(status: int) -> grpc.StatusCode:
    """The gRPC code for an HTTP error status (gRPC's own HTTP mapping where it has one)."""
    if status in _HTTP_CODES:
        return _HTTP_CODES[status]
    return grpc.StatusCode.FAILED_PRECONDITION if status < 500 else grpc.StatusCode.INTERNAL


class ServerError(RuntimeFailure):
    """The server answered with an error; ``message`` carries the server's own words."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.code = code


class ServerUnreachable(RuntimeFailure):
    code = grpc.StatusCode.UNAVAILABLE
