"""Models in Azure Blob Storage, through Microsoft's official client library.

``azure-storage-blob`` (and ``azure-identity`` for service principals) are optional
(``pip install 'modelmesh[azure]'``) and imported by the first pull; without them the pull
fails with FAILED_PRECONDITION saying what to install. Credentials are upstream's fields:
``connection_string``, or ``account_name`` with ``client_id``, ``client_secret`` and
``tenant_id`` of a service principal, or ``account_name`` alone (anonymous, public
containers). ``container`` names the container; the model path is the blob or prefix.

As with S3, a pull first reads the path as one blob and otherwise every blob under
``path/``; each request may stay silent for at most ``MM_PULL_TIMEOUT_MS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from modelmesh.runtimes.storage.errors import (
    AccessDenied,
    NotInStorage,
    PullFailed,
    PullTimedOut,
    Scope,
    StorageConfigError,
    StorageError,
)
from modelmesh.runtimes.storage.files import ModelFiles, check_key
from modelmesh.runtimes.storage.sources import Source
from modelmesh.runtimes.storage.transport import describe

INSTALL_HINT = "pip install 'modelmesh[azure]'"


@dataclass(frozen=True)
class AzureSource(Source):
    scope: Scope
    container: str
    path: str
    folder: bool = False
    connection_string: str | None = None
    account_name: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant_id: str | None = None

    def describe(self) -> str:
        account = f"{self.account_name}/" if self.account_name else ""
        return f"azure blob {account}{self.container}/{self.path}{'/' if self.folder else ''}"

    def fetch(self, files: ModelFiles, timeout_s: float) -> PurePosixPath | None:
        with self._translated(f"connecting for {self.describe()}", timeout_s):
            container = self._service(timeout_s).get_container_client(self.container)
        if not self.folder:
            name = PurePosixPath(PurePosixPath(self.path).name)
            with self._translated(f"getting {self.describe()}", timeout_s):
                if _copy(container, self.path, files, name, timeout_s):
                    return name
        prefix = f"{self.path}/"
        found = 0
        with self._translated(f"listing {self.describe()}", timeout_s):
            for blob in container.list_blobs(name_starts_with=prefix, timeout=timeout_s):
                if blob.name.endswith("/"):
                    continue
                what = f"blob name {blob.name!r}"
                relative = check_key(blob.name[len(prefix) :], what, self.scope)
                files.check_cancelled()
                if not _copy(container, blob.name, files, relative, timeout_s):
                    raise self.scope.error(NotInStorage, f"blob {blob.name!r} vanished")
                found += 1
        if not found:
            raise self.scope.error(
                NotInStorage,
                f"no blob {self.path!r} and no blobs under {prefix!r} in container "
                f"{self.container!r}",
            )
        return None

    def _service(self, timeout_s: float) -> Any:
        blob = _library(self.scope)
        options = {"connection_timeout": timeout_s, "read_timeout": timeout_s, "retry_total": 0}
        if self.connection_string:
            try:
                return blob.BlobServiceClient.from_connection_string(
                    self.connection_string, **options
                )
            except ValueError:
                raise self.scope.error(
                    StorageConfigError, "connection_string is not a valid connection string"
                ) from None
        if not self.account_name:
            raise self.scope.error(
                StorageConfigError, "needs connection_string, or account_name (with credentials)"
            )
        url = f"https://{self.account_name}.blob.core.windows.net"
        credential = None
        if self.client_id or self.client_secret or self.tenant_id:
            if not (self.client_id and self.client_secret and self.tenant_id):
                raise self.scope.error(
                    StorageConfigError, "needs all of client_id, client_secret and tenant_id"
                )
            try:
                from azure.identity import ClientSecretCredential
            except ImportError:
                raise self.scope.error(
                    StorageConfigError, f"service principals need azure-identity: {INSTALL_HINT}"
                ) from None
            credential = ClientSecretCredential(self.tenant_id, self.client_id, self.client_secret)
        return blob.BlobServiceClient(url, credential=credential, **options)

    @contextmanager
    def _translated(self, doing: str, timeout_s: float) -> Iterator[None]:
        """Azure's errors as storage errors; the library's messages are redacted by scope."""
        from azure.core import exceptions as az

        try:
            yield
        except StorageError:
            raise
        except az.ResourceNotFoundError as exc:
            what = "container" if _code(exc) == "ContainerNotFound" else "blob"
            name = self.container if what == "container" else self.path
            raise self.scope.error(
                NotInStorage, f"{doing}: {what} {name!r} does not exist"
            ) from None
        except az.HttpResponseError as exc:
            denied = isinstance(exc, az.ClientAuthenticationError) or exc.status_code in (401, 403)
            if not denied:
                raise self.scope.error(PullFailed, f"{doing}: {_code(exc)}") from None
            raise self.scope.error(
                AccessDenied,
                f"{doing}: the credentials were refused ({_code(exc)}); check connection_string "
                "or the service principal",
            ) from None
        except (az.ServiceRequestTimeoutError, az.ServiceResponseTimeoutError, TimeoutError):
            raise self.scope.error(
                PullTimedOut, f"{doing}: no answer within {timeout_s:g} s (MM_PULL_TIMEOUT_MS)"
            ) from None
        except (az.AzureError, OSError) as exc:
            raise self.scope.error(PullFailed, f"{doing}: {_code(exc)}") from None


def _code(exc: BaseException) -> str:
    """Azure's error code (``AuthorizationFailure``), else the exception's first line."""
    code = getattr(exc, "error_code", None)
    if code:
        return str(getattr(code, "value", code))
    return describe(exc).splitlines()[0]


def _copy(
    container: Any, name: str, files: ModelFiles, relative: PurePosixPath, timeout_s: float
) -> bool:
    """Copy one blob into ``files``; False when it does not exist (its container does)."""
    from azure.core import exceptions as az

    try:
        downloader = container.download_blob(name, timeout=timeout_s)
    except az.ResourceNotFoundError as exc:
        if getattr(exc, "error_code", None) == "BlobNotFound":
            return False
        raise
    files.write(relative, _Stream(downloader))
    return True


class _Stream:
    """A downloader's chunks as a file-like ``read``."""

    def __init__(self, downloader: Any) -> None:
        self._chunks = downloader.chunks()
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._pending) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending += chunk
        data, self._pending = (
            (self._pending, b"") if size < 0 else (self._pending[:size], self._pending[size:])
        )
        return data


def _library(scope: Scope) -> Any:
    try:
        from azure.storage import blob
    except ImportError:
        raise scope.error(
            StorageConfigError, f"azure storage needs Microsoft's client library: {INSTALL_HINT}"
        ) from None
    return blob
