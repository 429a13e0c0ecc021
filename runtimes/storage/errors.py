"""Errors of storage configuration and pulls, each carrying the gRPC status it maps to.

```
StorageError                 base; ``code`` is the gRPC status, the message says what to fix
├── StorageConfigError       FAILED_PRECONDITION: storage key missing, unreadable or unsupported
├── InvalidLocation          INVALID_ARGUMENT: a path, URI or parameter that cannot be pulled
├── AccessDenied             FAILED_PRECONDITION: the storage refused the credentials
├── NotInStorage             FAILED_PRECONDITION: no such bucket, container, object or URL
├── PullTimedOut             DEADLINE_EXCEEDED: the storage stopped answering
├── PullCancelled            ABORTED: the model was removed while it was being pulled
└── PullFailed               INTERNAL: anything else (unreachable host, server error, disk)
```

Messages name the storage key and the cause, never a secret: every message built from
configuration or from a server's reply passes through ``redact`` with the secret values of
the storage entry in use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import grpc

REDACTED = "<redacted>"

# Shorter strings would redact ordinary words; no real secret is this short.
_MIN_SECRET_LENGTH = 4


class StorageError(Exception):
    """A model that could not be pulled; ``code`` and ``message`` go to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StorageConfigError(StorageError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class InvalidLocation(StorageError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class AccessDenied(StorageError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class NotInStorage(StorageError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PullTimedOut(StorageError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class PullCancelled(StorageError):
    code = grpc.StatusCode.ABORTED


class PullFailed(StorageError):
    code = grpc.StatusCode.INTERNAL


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, longest first (one may contain another)."""
    for secret in sorted(
        {s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
    ):
        text = text.replace(secret, REDACTED)
    return text


_Error = TypeVar("_Error", bound=StorageError)


@dataclass(frozen=True)
class Scope:
    """What a pull is about, for its messages: the storage's name and the values to hide."""

    name: str
    secrets: tuple[str, ...] = ()

    def error(self, kind: type[_Error], message: str) -> _Error:
        return kind(redact(f"{self.name}: {message}", self.secrets))
