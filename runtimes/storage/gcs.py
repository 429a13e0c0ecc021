"""Models in Google Cloud Storage, through Google's official client library.

``google-cloud-storage`` is optional (``pip install 'modelmesh[gcs]'``) and imported by the
first pull; without it the pull fails with FAILED_PRECONDITION saying what to install.
Credentials are upstream's fields: ``private_key``, ``client_email`` and ``token_uri`` of a
service account (read-only scope); without them requests are anonymous (public buckets).
``endpoint_url`` (not upstream's) points the client at another server, such as an emulator.

As with S3, a pull first reads the path as one object and otherwise every object under
``path/``; the library's own retries are off, so ``MM_PULL_TIMEOUT_MS`` bounds each request.
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

READ_ONLY_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
INSTALL_HINT = "pip install 'modelmesh[gcs]'"


@dataclass(frozen=True)
class GcsSource(Source):
    scope: Scope
    bucket: str
    path: str
    folder: bool = False
    private_key: str | None = None
    client_email: str | None = None
    token_uri: str | None = None
    endpoint: str | None = None

    def describe(self) -> str:
        return f"gs://{self.bucket}/{self.path}{'/' if self.folder else ''}"

    def fetch(self, files: ModelFiles, timeout_s: float) -> PurePosixPath | None:
        bucket = self._client().bucket(self.bucket)
        if not self.folder:
            name = PurePosixPath(PurePosixPath(self.path).name)
            with self._translated(f"getting {self.describe()}", timeout_s):
                if _copy(bucket.blob(self.path), files, name, timeout_s):
                    return name
        prefix = f"{self.path}/"
        found = 0
        with self._translated(f"listing {self.describe()}", timeout_s):
            for blob in bucket.client.list_blobs(
                bucket, prefix=prefix, timeout=timeout_s, retry=None
            ):
                if blob.name.endswith("/"):
                    continue  # a folder placeholder
                relative = check_key(
                    blob.name[len(prefix) :], f"object name {blob.name!r}", self.scope
                )
                files.check_cancelled()
                if not _copy(blob, files, relative, timeout_s):
                    raise self.scope.error(NotInStorage, f"object {blob.name!r} vanished")
                found += 1
        if not found:
            raise self.scope.error(
                NotInStorage,
                f"no object {self.path!r} and no objects under {prefix!r} in bucket "
                f"{self.bucket!r}",
            )
        return None

    def _client(self) -> Any:
        storage, service_account, anonymous = _library(self.scope)
        if self.private_key or self.client_email:
            if not (self.private_key and self.client_email):
                raise self.scope.error(
                    StorageConfigError, "needs both private_key and client_email, or neither"
                )
            info = {
                "type": "service_account",
                "private_key": self.private_key,
                "client_email": self.client_email,
                "token_uri": self.token_uri or "https://oauth2.googleapis.com/token",
            }
            try:
                credentials = service_account.Credentials.from_service_account_info(
                    info, scopes=[READ_ONLY_SCOPE]
                )
            except ValueError:
                raise self.scope.error(
                    StorageConfigError, "private_key is not a PEM private key"
                ) from None
        else:
            credentials = anonymous()
        options = {"api_endpoint": self.endpoint} if self.endpoint else None
        return storage.Client(project="modelmesh", credentials=credentials, client_options=options)

    @contextmanager
    def _translated(self, doing: str, timeout_s: float) -> Iterator[None]:
        """Google's errors as storage errors; the library's messages are redacted by scope."""
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth
        from requests import exceptions as http

        try:
            yield
        except StorageError:
            raise
        except api.NotFound:
            raise self.scope.error(
                NotInStorage, f"{doing}: bucket {self.bucket!r} does not exist"
            ) from None
        except (api.Forbidden, api.Unauthorized, auth.RefreshError) as exc:
            raise self.scope.error(
                AccessDenied,
                f"{doing}: the credentials were refused ({describe(exc)}); check private_key, "
                "client_email and token_uri",
            ) from None
        except http.Timeout:
            raise self.scope.error(
                PullTimedOut, f"{doing}: no answer within {timeout_s:g} s (MM_PULL_TIMEOUT_MS)"
            ) from None
        except (api.GoogleAPIError, auth.GoogleAuthError, http.RequestException, OSError) as exc:
            raise self.scope.error(PullFailed, f"{doing}: {describe(exc)}") from None


def _copy(blob: Any, files: ModelFiles, relative: PurePosixPath, timeout_s: float) -> bool:
    """Copy one object into ``files``; False when it does not exist."""
    from google.api_core import exceptions as api

    try:
        reader = blob.open("rb", timeout=timeout_s, retry=None)
    except api.NotFound:
        return False
    with reader:
        try:
            files.write(relative, reader)
        except api.NotFound:  # the reader asks on its first read
            files.root.joinpath(*relative.parts).unlink(missing_ok=True)
            return False
    return True


def _library(scope: Scope) -> tuple[Any, Any, Any]:
    try:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[import-untyped]
        from google.oauth2 import service_account
    except ImportError:
        raise scope.error(
            StorageConfigError, f"gcs storage needs Google's client library: {INSTALL_HINT}"
        ) from None
    return storage, service_account, AnonymousCredentials
