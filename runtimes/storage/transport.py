"""HTTP(S) for the S3 and HTTP sources: connections, TLS from PEM text, and network errors.

The standard library's ``http.client`` does the work: it gives full control over the
``Host`` header S3 signs, a timeout on every socket operation (so a server that accepts
and then stalls fails the pull after ``timeout_s`` without a byte, instead of hanging it),
and no automatic redirects that would carry credentials to another host.
Network failures become storage errors in ``translated``, with the storage's name and no
secret in them.
"""

from __future__ import annotations

import http.client
import os
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from urllib.parse import urlsplit

from modelmesh.runtimes.storage.errors import (
    InvalidLocation,
    PullFailed,
    PullTimedOut,
    Scope,
    StorageError,
)


def tls_context(
    ca_pem: str | None = None, client_cert_pem: str | None = None, client_key_pem: str | None = None
) -> ssl.SSLContext:
    """A verifying TLS context; ``ca_pem`` replaces the system's CAs when given."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    if client_cert_pem:
        # ssl loads key pairs only from files: a private directory, gone right after
        with tempfile.TemporaryDirectory(prefix="mm-tls-") as private:
            cert = os.path.join(private, "cert.pem")
            key = os.path.join(private, "key.pem") if client_key_pem else None
            with open(os.open(cert, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                out.write(client_cert_pem)
            if key and client_key_pem:
                with open(os.open(key, os.O_WRONLY | os.O_CREAT, 0o600), "w") as out:
                    out.write(client_key_pem)
            context.load_cert_chain(cert, key)
    return context


def connect(
    url: str, *, timeout_s: float, context: ssl.SSLContext | None = None
) -> http.client.HTTPConnection:
    """A connection to the origin of ``url`` (not yet opened); http or https only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidLocation(f"{origin(url)!r} is not an http:// or https:// URL")
    try:
        port = parts.port
    except ValueError:
        raise InvalidLocation(f"{origin(url)!r} has an invalid port") from None
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, port, timeout=timeout_s, context=context or ssl.create_default_context()
        )
    return http.client.HTTPConnection(parts.hostname, port, timeout=timeout_s)


def host_header(url: str) -> str:
    """The ``Host`` header for ``url``: host, and port when it is not the scheme's default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6 literal
    default = 443 if parts.scheme == "https" else 80
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without user info, path or query: safe to show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def send(
    connection: http.client.HTTPConnection,
    method: str,
    target: str,
    headers: Mapping[str, str],
) -> http.client.HTTPResponse:
    """Send a request without a body and return the response, headers read."""
    connection.request(method, target, headers=dict(headers))
    return connection.getresponse()


@contextmanager
def translated(scope: Scope, doing: str, timeout_s: float) -> Iterator[None]:
    """Turn network and disk errors raised inside into storage errors about ``doing``."""
    try:
        yield
    except StorageError:
        raise
    except TimeoutError:
        raise scope.error(
            PullTimedOut,
            f"{doing}: no answer within {timeout_s:g} s (MM_PULL_TIMEOUT_MS); the storage "
            "server is down, overloaded or unreachable",
        ) from None
    except ssl.SSLError as exc:
        raise scope.error(PullFailed, f"{doing}: TLS failed: {exc.reason or exc}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise scope.error(PullFailed, f"{doing}: {describe(exc)}") from None


def describe(exc: BaseException) -> str:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
