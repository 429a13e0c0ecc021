"""From a model's ``modelPath`` and ``modelKey`` to where the model is.

Two forms name a storage, as upstream's controller writes them:

- ``modelKey`` JSON ``{"storage_key": "...", "storage_params": {...}, "model_type": ...,
  "schema_path": ...}``: the storage-config entry ``storage_key``, with ``storage_params``
  (``bucket``, ``type``, ...) laid over it; ``modelPath`` is the object key, folder prefix,
  URL suffix or path on the claim.
- ``modelPath`` a URI: ``s3://bucket/path``, ``http(s)://...``, ``pvc://claim/path``,
  ``gs://bucket/path``; credentials come from ``storage_key`` if given, else from the
  storage-config key ``default`` when it is of the URI's type.

A model with neither is local: ``locate`` returns None and the runtime reads it under its
models root as always. ``pvc`` models come back as a ``MountedPath`` (read in place),
all others as a ``Source`` for the puller.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from modelmesh.runtimes.storage.azure import AzureSource
from modelmesh.runtimes.storage.config import StorageConfig, StorageEntry, url_secrets
from modelmesh.runtimes.storage.errors import InvalidLocation, Scope, StorageConfigError
from modelmesh.runtimes.storage.files import check_prefix
from modelmesh.runtimes.storage.gcs import GcsSource
from modelmesh.runtimes.storage.http import HttpSource
from modelmesh.runtimes.storage.pvc import mounted_path
from modelmesh.runtimes.storage.s3 import DEFAULT_REGION, S3Source
from modelmesh.runtimes.storage.sources import MountedPath, Source

DEFAULT_STORAGE_KEY = "default"
# URI scheme -> storage type
SCHEMES = {"s3": "s3", "http": "http", "https": "https", "pvc": "pvc", "gs": "gcs"}
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# types that name the same kind of storage
_KINDS = {"https": "http"}


@dataclass(frozen=True)
class ModelKey:
    """The storage fields of upstream's JSON model key; an opaque key has none."""

    storage_key: str | None = None
    storage_params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, model_key: str) -> ModelKey:
        try:
            document = json.loads(model_key) if model_key.strip() else None
        except ValueError:
            return cls()  # upstream lets a key be any string; it then names no storage
        if not isinstance(document, dict):
            return cls()
        storage_key = document.get("storage_key")
        params = document.get("storage_params")
        if storage_key is not None and not isinstance(storage_key, str):
            raise InvalidLocation("model key: storage_key must be a string")
        if params is not None and not isinstance(params, dict):
            raise InvalidLocation("model key: storage_params must be a JSON object")
        return cls(storage_key or None, params or {})


def with_disk_size(model_key: str, disk_bytes: int) -> str:
    """``model_key`` with ``disk_size_bytes`` set, as upstream's puller hands it on to
    runtimes that size models by their files."""
    try:
        document = json.loads(model_key) if model_key.strip() else {}
    except ValueError:
        return model_key
    if not isinstance(document, dict):
        return model_key
    return json.dumps({**document, "disk_size_bytes": disk_bytes})


def names_storage(model_path: str, model_key: str) -> bool:
    """Whether the model lives in a storage rather than under the local models root."""
    key = ModelKey.parse(model_key)
    return bool(key.storage_key or key.storage_params or _URI.match(model_path))


def locate(
    model_path: str, model_key: str, config: StorageConfig, *, pvc_mounts: Path
) -> Source | MountedPath | None:
    """Where the model is; None for a local model. Reads the storage config, nothing else."""
    key = ModelKey.parse(model_key)
    match = _URI.match(model_path)
    uri_type = None
    if match:
        try:
            urlsplit(model_path).port  # noqa: B018 (a bad host or port raises)
        except ValueError as exc:
            raise InvalidLocation(f"model path is not a valid URI: {exc}") from None
        scheme = match.group(1).lower()
        uri_type = SCHEMES.get(scheme)
        if uri_type is None:
            raise InvalidLocation(
                f"model path has the URI scheme {scheme!r}; supported are "
                f"{', '.join(f'{s}://' for s in SCHEMES)}"
            )
    elif not (key.storage_key or key.storage_params):
        return None
    entry = _entry(key, uri_type, config)
    if uri_type and _KINDS.get(entry.type, entry.type) != _KINDS.get(uri_type, uri_type):
        raise InvalidLocation(
            f"model path is a {uri_type} URI but {entry.name} is of type {entry.type}"
        )
    secrets = entry.secrets() + tuple(url_secrets(model_path) if match else ())
    scope = Scope(entry.name, secrets)
    uri = urlsplit(model_path) if match else None
    kind = _KINDS.get(entry.type, entry.type)
    if kind == "s3":
        return _s3(entry, scope, model_path, uri)
    if kind == "http":
        return _http(entry, scope, model_path, uri)
    if kind == "gcs":
        return _gcs(entry, scope, model_path, uri)
    if kind == "azure":
        return _azure(entry, scope, model_path)
    if kind == "pvc":
        claim = uri.netloc if uri else entry.text("name")
        if not claim:
            raise scope.error(StorageConfigError, "no PVC name (field 'name')")
        return mounted_path(pvc_mounts, claim, uri.path.lstrip("/") if uri else model_path, scope)
    raise scope.error(StorageConfigError, f"{entry.type} storage is not supported")


def _entry(key: ModelKey, uri_type: str | None, config: StorageConfig) -> StorageEntry:
    if key.storage_key:
        return config.get(key.storage_key).with_params(key.storage_params)
    wanted = uri_type or key.storage_params.get("type")
    default = config.find(DEFAULT_STORAGE_KEY)
    if default is not None and (
        wanted is None or _KINDS.get(default.type, default.type) == _KINDS.get(wanted, wanted)
    ):
        return default.with_params(key.storage_params)
    if not isinstance(wanted, str) or not wanted:
        raise InvalidLocation(
            'model key has storage_params but no storage_key, no "type" in storage_params, '
            f"and there is no {DEFAULT_STORAGE_KEY!r} storage key"
        )
    return StorageEntry(wanted.lower()).with_params(key.storage_params)


def _s3(entry: StorageEntry, scope: Scope, model_path: str, uri: Any) -> S3Source:
    bucket = uri.netloc if uri else entry.text("bucket", "default_bucket")
    if not bucket:
        raise scope.error(
            InvalidLocation, "no bucket: set bucket in storage_params or the storage entry"
        )
    path = uri.path.lstrip("/") if uri else model_path
    access_key = entry.text("access_key_id")
    secret_key = entry.text("secret_access_key")
    if bool(access_key) != bool(secret_key):
        raise scope.error(StorageConfigError, "has only one of access_key_id and secret_access_key")
    region = entry.text("region") or DEFAULT_REGION
    endpoint = entry.text("endpoint_url") or f"https://s3.{region}.amazonaws.com"
    if "://" not in endpoint:
        endpoint = f"https://{endpoint}"
    return S3Source(
        scope=scope,
        endpoint=endpoint,
        region=region,
        bucket=bucket,
        path=check_prefix(path, scope=scope),
        folder=path.endswith("/"),
        access_key=access_key,
        secret_key=secret_key,
        ca_pem=entry.text("certificate"),
    )


def _gcs(entry: StorageEntry, scope: Scope, model_path: str, uri: Any) -> GcsSource:
    bucket = uri.netloc if uri else entry.text("bucket")
    if not bucket:
        raise scope.error(
            InvalidLocation, "no bucket: set bucket in storage_params or the storage entry"
        )
    path = uri.path.lstrip("/") if uri else model_path
    return GcsSource(
        scope=scope,
        bucket=bucket,
        path=check_prefix(path, scope=scope),
        folder=path.endswith("/"),
        private_key=entry.text("private_key"),
        client_email=entry.text("client_email"),
        token_uri=entry.text("token_uri"),
        endpoint=entry.text("endpoint_url"),
    )


def _azure(entry: StorageEntry, scope: Scope, model_path: str) -> AzureSource:
    container = entry.text("container")
    if not container:
        raise scope.error(
            InvalidLocation, "no container: set container in storage_params or the storage entry"
        )
    return AzureSource(
        scope=scope,
        container=container,
        path=check_prefix(model_path, scope=scope),
        folder=model_path.endswith("/"),
        connection_string=entry.text("connection_string"),
        account_name=entry.text("account_name"),
        client_id=entry.text("client_id"),
        client_secret=entry.text("client_secret"),
        tenant_id=entry.text("tenant_id"),
    )


def _http(entry: StorageEntry, scope: Scope, model_path: str, uri: Any) -> HttpSource:
    if uri:
        url = model_path
    else:
        base = entry.text("url")
        if not base:
            raise scope.error(StorageConfigError, "has no url")
        url = base
        if model_path.strip():
            url = f"{base.rstrip('/')}/{quote(check_prefix(model_path, scope=scope))}"
    return HttpSource(
        scope=scope,
        url=url,
        headers=entry.strings("headers"),
        ca_pem=entry.text("certificate"),
        client_cert_pem=entry.text("client_certificate"),
        client_key_pem=entry.text("client_key"),
    )
