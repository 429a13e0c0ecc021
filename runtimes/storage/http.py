"""Models behind an HTTP(S) URL: one file, fetched with the storage entry's headers and TLS.

Redirects are followed (up to ``MAX_REDIRECTS``); the configured headers, which usually
carry a token, are sent only to the origin they were configured for, never after a redirect
to another host. The file keeps the last segment of the URL's path as its name, so its
suffix tells the runtime the format (``model.onnx``); a URL ending in ``/`` names the file
``model``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import NoReturn
from urllib.parse import unquote, urljoin, urlsplit

from modelmesh.runtimes.storage.errors import (
    AccessDenied,
    InvalidLocation,
    NotInStorage,
    PullFailed,
    Scope,
)
from modelmesh.runtimes.storage.files import ModelFiles, check_key
from modelmesh.runtimes.storage.sources import Source
from modelmesh.runtimes.storage.transport import connect, origin, send, tls_context, translated

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass(frozen=True)
class HttpSource(Source):
    scope: Scope
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None

    def describe(self) -> str:
        return safe_url(self.url)

    def fetch(self, files: ModelFiles, timeout_s: float) -> PurePosixPath | None:
        context = tls_context(self.ca_pem, self.client_cert_pem, self.client_key_pem)
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            headers = dict(self.headers) if origin(url) == origin(self.url) else {}
            parts = urlsplit(url)
            headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection = connect(url, timeout_s=timeout_s, context=context)
            try:
                with translated(self.scope, f"getting {safe_url(url)}", timeout_s):
                    response = send(connection, "GET", target, headers)
                    if response.status in _REDIRECTS and response.getheader("Location"):
                        url = urljoin(url, response.getheader("Location", ""))
                        continue
                    if response.status != 200:
                        self._raise(response.status, url)
                    name = file_name(url)
                    files.write(name, response)
                    return name
            finally:
                connection.close()
        raise self.scope.error(
            PullFailed, f"{safe_url(self.url)} redirected more than {MAX_REDIRECTS} times"
        )

    def _raise(self, status: int, url: str) -> NoReturn:
        where = safe_url(url)
        if status in (404, 410):
            raise self.scope.error(NotInStorage, f"{where} does not exist (HTTP {status})")
        if status in (401, 403):
            raise self.scope.error(
                AccessDenied,
                f"{where} refused the request (HTTP {status}); check the storage entry's headers",
            )
        raise self.scope.error(PullFailed, f"{where} answered HTTP {status}")


def safe_url(url: str) -> str:
    """``url`` without user info and query: what messages may show."""
    return origin(url) + urlsplit(url).path


def file_name(url: str) -> PurePosixPath:
    """The downloaded file's name: the URL path's last segment, else ``model``."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "model"
    if "/" in name or name in (".", ".."):
        raise InvalidLocation(f"{safe_url(url)} does not end in a usable file name")
    return check_key(name, "file name")
