"""Storage configuration in upstream's ``storage-config`` format, read from a directory.

A mounted Kubernetes Secret is a directory with one file per key; each file here holds one
JSON document naming a storage by its ``type`` and upstream's field names::

    {"type": "s3", "access_key_id": "...", "secret_access_key": "...",
     "endpoint_url": "http://minio:9000", "region": "us-east-1", "bucket": "models"}

| type | fields |
|---|---|
| ``s3`` | access_key_id, secret_access_key, endpoint_url, region, bucket, certificate |
| ``http``, ``https`` | url, headers, certificate, client_certificate, client_key |
| ``pvc`` | name |

(``default_bucket`` is read where ``bucket`` is absent.)
| ``gcs`` | private_key, client_email, token_uri, bucket (endpoint_url, for emulators) |
| ``azure`` | account_name, container, connection_string or client_id, client_secret, tenant_id |

Files are re-read when they change: each lookup stats the directory's files (a few
microseconds for a Secret's handful of keys) and parses only those whose inode, size or
modification time moved. Kubernetes swaps a Secret's files by renaming a symlink, which
changes the inode seen through it. Dotfiles (Kubernetes' ``..data``) are not keys.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from modelmesh.runtimes.storage.errors import StorageConfigError

logger = logging.getLogger(__name__)

TYPES = ("s3", "http", "https", "pvc", "gcs", "azure")

# Fields whose values never appear in a message or a log line.
SECRET_FIELDS = frozenset(
    {
        "access_key_id",
        "secret_access_key",
        "private_key",
        "client_key",
        "client_secret",
        "connection_string",
        "token",
        "sas_token",
        "password",
    }
)
# Fields holding URLs, whose user info and query parameters may carry credentials.
_URL_FIELDS = ("url", "endpoint_url")


@dataclass(frozen=True)
class StorageEntry:
    """One storage: its ``type`` and fields (a storage-config key, maybe with overrides)."""

    type: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    # the storage-config key it came from, for messages; None when built from a URI alone
    key: str | None = None

    @property
    def name(self) -> str:
        """How messages refer to it: ``storage key 'k' (s3)`` or just ``s3 storage``."""
        return f"storage key {self.key!r} ({self.type})" if self.key else f"{self.type} storage"

    def text(self, name: str, *aliases: str) -> str | None:
        """The string field ``name`` (or the first alias set), None when absent or empty."""
        for candidate in (name, *aliases):
            value = self.fields.get(candidate)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise StorageConfigError(f"{self.name}: field {candidate!r} must be a string")
            return value
        return None

    def strings(self, name: str) -> dict[str, str]:
        """The field ``name`` as a string-to-string object (HTTP headers), {} when absent."""
        value = self.fields.get(name) or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise StorageConfigError(
                f"{self.name}: field {name!r} must be an object of strings to strings"
            )
        return value

    def with_params(self, params: Mapping[str, Any]) -> StorageEntry:
        """This entry with a model's ``storage_params`` laid over it (they win)."""
        merged = {**self.fields, **params}
        kind = str(merged.pop("type", self.type)).lower()
        return StorageEntry(kind, merged, self.key)

    def secrets(self) -> tuple[str, ...]:
        """Every value that must not show up in messages: secret fields, header values, and
        the credentials and query parameters of URLs."""
        found: list[str] = []
        for name, value in self.fields.items():
            if name in SECRET_FIELDS and isinstance(value, str):
                found.append(value)
                if name == "connection_string":  # its keys may show up on their own
                    found.extend(part.partition("=")[2] for part in value.split(";"))
            elif name == "headers" and isinstance(value, dict):
                found.extend(v for v in value.values() if isinstance(v, str))
            elif name in _URL_FIELDS and isinstance(value, str):
                found.extend(url_secrets(value))
        return tuple(found)


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that may be credentials: user info and query values (all of it,
    when it does not parse)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (parses the port, which may be out of range)
    except ValueError:
        return [url]
    found = [value for _, value in parse_qsl(parts.query)]
    if parts.query:
        found.append(parts.query)
    if parts.username:
        found.append(parts.username)
    if parts.password:
        found.append(parts.password)
    return found


@dataclass
class _File:
    fingerprint: tuple[int, int, int]
    entry: StorageEntry | None
    problem: str | None  # why the file is not a usable entry


class StorageConfig:
    """The storage-config directory (``STORAGE_CONFIG_DIR``); thread-safe.

    ``directory`` None means no storage configuration: every key lookup fails, saying so.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._files: dict[str, _File] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> StorageEntry:
        """The entry of storage key ``key``, as its file reads now."""
        if self.directory is None:
            raise StorageConfigError(
                f"storage key {key!r} is unknown: no storage configuration is set "
                "(STORAGE_CONFIG_DIR)"
            )
        entry = self.find(key)
        if entry is None:
            known = ", ".join(self.keys()) or "none"
            raise StorageConfigError(
                f"storage key {key!r} is not in the storage configuration "
                f"{self.directory} (keys: {known})"
            )
        return entry

    def find(self, key: str) -> StorageEntry | None:
        """Like ``get``, but None when the key (or the whole configuration) is absent."""
        if self.directory is None:
            return None
        with self._lock:
            self._refresh(self.directory)
            found = self._files.get(key)
        if found is None:
            return None
        if found.entry is None:
            raise StorageConfigError(f"storage key {key!r}: {found.problem}")
        return found.entry

    def keys(self) -> list[str]:
        if self.directory is None:
            return []
        with self._lock:
            self._refresh(self.directory)
            return sorted(self._files)

    def _refresh(self, directory: Path) -> None:
        seen: dict[str, tuple[int, int, int]] = {}
        try:
            with os.scandir(directory) as entries:
                for dir_entry in entries:
                    if dir_entry.name.startswith("."):
                        continue
                    try:
                        stat = dir_entry.stat()  # follows Kubernetes' symlinks
                    except FileNotFoundError:
                        continue  # removed while we looked
                    if dir_entry.is_file():
                        seen[dir_entry.name] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        except FileNotFoundError:
            logger.warning("storage configuration directory %s does not exist", directory)
        except NotADirectoryError:
            logger.warning("storage configuration path %s is not a directory", directory)
        for key in set(self._files) - set(seen):
            del self._files[key]
        for key, fingerprint in seen.items():
            known = self._files.get(key)
            if known is None or known.fingerprint != fingerprint:
                self._files[key] = _read(directory / key, key, fingerprint)


def _read(path: Path, key: str, fingerprint: tuple[int, int, int]) -> _File:
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        return _File(fingerprint, None, f"cannot read {path}: {exc.strerror}")
    except ValueError as exc:
        # the decoder's message holds a position, never the document's text
        return _File(fingerprint, None, f"{path} is not valid JSON ({exc.__class__.__name__})")
    problem = _problem(document)
    if problem:
        logger.warning("storage key %r: %s", key, problem)
        return _File(fingerprint, None, problem)
    kind = document.pop("type").lower()
    return _File(fingerprint, StorageEntry(kind, document, key), None)


def _problem(document: Any) -> str | None:
    if not isinstance(document, dict):
        return "must be a JSON object"
    kind = document.get("type")
    if not isinstance(kind, str) or not kind:
        return f'has no "type"; use one of {", ".join(TYPES)}'
    if kind.lower() not in TYPES:
        return f"has type {kind!r}; supported types are {', '.join(TYPES)}"
    return None
