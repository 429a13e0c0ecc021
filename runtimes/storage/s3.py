"""Models in S3-compatible object storage: one object, or every object under a prefix.

Requests are path-style (``endpoint/bucket/key``, what MinIO, Ceph and moto expect) and
signed with AWS Signature Version 4 when the storage entry has credentials, unsigned
otherwise. The client is the standard library's ``http.client`` (``transport.py``) rather
than botocore: three request kinds are all a pull needs, and botocore's
``python-dateutil<3`` pin would clash with the Kubernetes client's ``>=3``.

A pull first GETs the path as one object; if there is none, it lists ``path/`` and fetches
every object under it, keeping their names relative to the prefix. A path ending in ``/`` is
a folder at once.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import NoReturn
from urllib.parse import quote, urlsplit

from modelmesh.runtimes.storage.errors import AccessDenied, NotInStorage, PullFailed, Scope
from modelmesh.runtimes.storage.files import ModelFiles, check_key
from modelmesh.runtimes.storage.sources import Source
from modelmesh.runtimes.storage.transport import (
    connect,
    host_header,
    origin,
    send,
    tls_context,
    translated,
)

DEFAULT_REGION = "us-east-1"
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# S3 error codes that mean the credentials are wrong or not allowed
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "AccountProblem",
}


@dataclass(frozen=True)
class S3Source(Source):
    scope: Scope
    endpoint: str
    region: str
    bucket: str
    # object key or prefix, checked; ``folder``: the path ended in "/"
    path: str
    folder: bool = False
    access_key: str | None = None
    secret_key: str | None = None
    ca_pem: str | None = None

    def describe(self) -> str:
        return (
            f"s3://{self.bucket}/{self.path}{'/' if self.folder else ''} at {origin(self.endpoint)}"
        )

    def fetch(self, files: ModelFiles, timeout_s: float) -> PurePosixPath | None:
        client = _Client(self, timeout_s)
        try:
            if not self.folder:
                name = PurePosixPath(self.path).name
                with translated(self.scope, f"getting {self.describe()}", timeout_s):
                    if client.get_into(self.path, files, PurePosixPath(name)):
                        return PurePosixPath(name)
            prefix = f"{self.path}/"
            found = 0
            with translated(self.scope, f"listing {self.describe()}", timeout_s):
                for key in client.list(prefix):
                    if key.endswith("/"):
                        continue  # a folder marker, not a file
                    relative = check_key(key[len(prefix) :], f"object key {key!r}", self.scope)
                    files.check_cancelled()
                    if not client.get_into(key, files, relative):
                        raise self.scope.error(
                            NotInStorage, f"object {key!r} vanished while pulling"
                        )
                    found += 1
            if not found:
                raise self.scope.error(
                    NotInStorage,
                    f"no object {self.path!r} and no objects under {prefix!r} in bucket "
                    f"{self.bucket!r} at {origin(self.endpoint)}",
                )
            return None
        finally:
            client.close()


class _Client:
    """GET and list in one bucket over one keep-alive connection; not thread-safe."""

    def __init__(self, source: S3Source, timeout_s: float) -> None:
        self._source = source
        self._base_path = urlsplit(source.endpoint).path.rstrip("/")
        self._host = host_header(source.endpoint)
        context = tls_context(source.ca_pem) if source.ca_pem else None
        self._connection = connect(source.endpoint, timeout_s=timeout_s, context=context)

    def close(self) -> None:
        self._connection.close()

    def get_into(self, key: str, files: ModelFiles, relative: PurePosixPath) -> bool:
        """Copy object ``key`` to ``relative`` in ``files``; False if there is no such key."""
        response = self._request(f"/{self._source.bucket}/{key}", {})
        if response.status == 200:
            files.write(relative, response)
            return True
        body = response.read()
        if _error_code(body) == "NoSuchKey":
            return False
        self._raise(response.status, body)

    def list(self, prefix: str) -> Iterator[str]:
        """Every key that starts with ``prefix``, page by page."""
        token: str | None = None
        while True:
            query = {"list-type": "2", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            response = self._request(f"/{self._source.bucket}", query)
            body = response.read()
            if response.status != 200:
                self._raise(response.status, body)
            root = ElementTree.fromstring(body)
            for element in root:
                if _tag(element) == "Contents":
                    yield _child_text(element, "Key")
            token = _child_text(root, "NextContinuationToken")
            if _child_text(root, "IsTruncated") != "true" or not token:
                return

    def _request(self, path: str, query: dict[str, str]) -> http.client.HTTPResponse:
        target = quote(self._base_path + path, safe="/-_.~")
        canonical_query = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
        )
        headers = {"Host": self._host, "x-amz-content-sha256": _EMPTY_SHA256}
        source = self._source
        if source.access_key and source.secret_key:
            headers.update(
                sign(
                    "GET",
                    target,
                    canonical_query,
                    headers,
                    access_key=source.access_key,
                    secret_key=source.secret_key,
                    region=source.region,
                )
            )
        return send(
            self._connection, "GET", f"{target}?{canonical_query}" if query else target, headers
        )

    def _raise(self, status: int, body: bytes) -> NoReturn:
        source = self._source
        code = _error_code(body)
        where = f"bucket {source.bucket!r} at {origin(source.endpoint)}"
        if code == "NoSuchBucket" or (status == 404 and not code):
            raise source.scope.error(NotInStorage, f"{where} does not exist")
        if code in _DENIED or status in (401, 403):
            raise source.scope.error(
                AccessDenied,
                f"{where} refused the credentials ({code or status}: {_error_message(body)}); "
                "check access_key_id and secret_access_key",
            )
        raise source.scope.error(
            PullFailed, f"{where} answered HTTP {status} {code}: {_error_message(body)}".rstrip()
        )


def sign(
    method: str,
    target: str,
    canonical_query: str,
    headers: dict[str, str],
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = "s3",
    now: time.struct_time | None = None,
) -> dict[str, str]:
    """The headers that sign a request with AWS Signature Version 4 (``x-amz-date`` and
    ``Authorization``); ``target`` is the URI-encoded path, ``headers`` all others sent."""
    now = now or time.gmtime()
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", now)
    day = amz_date[:8]
    signed = {name.lower(): value.strip() for name, value in headers.items()}
    signed["x-amz-date"] = amz_date
    names = ";".join(sorted(signed))
    canonical_request = "\n".join(
        [
            method,
            target,
            canonical_query,
            "".join(f"{name}:{signed[name]}\n" for name in sorted(signed)),
            names,
            signed.get("x-amz-content-sha256", _EMPTY_SHA256),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "x-amz-date": amz_date,
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, "
            f"Signature={signature}"
        ),
    }


def _tag(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1]


def _child_text(element: ElementTree.Element, name: str) -> str:
    for child in element:
        if _tag(child) == name:
            return child.text or ""
    return ""


def _parse_error(body: bytes) -> ElementTree.Element | None:
    try:
        return ElementTree.fromstring(body) if body.strip() else None
    except ElementTree.ParseError:
        return None


def _error_code(body: bytes) -> str:
    root = _parse_error(body)
    return _child_text(root, "Code") if root is not None else ""


def _error_message(body: bytes) -> str:
    root = _parse_error(body)
    return _child_text(root, "Message")[:300] if root is not None else ""
