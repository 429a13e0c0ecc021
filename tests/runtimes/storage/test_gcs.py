"""Pulls from Google Cloud Storage's API (gcp-storage-emulator) with service-account keys."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelmesh.runtimes.storage import Puller, StorageError
from modelmesh.runtimes.storage.errors import AccessDenied, NotInStorage, StorageConfigError
from tests.runtimes.storage.conftest import where
from tests.support.storage import gcs_emulator, private_key_pem, token_server, write_storage_config

pytest.importorskip("google.cloud.storage", reason="the gcs extra is not installed")

PRIVATE_KEY = private_key_pem()


@pytest.fixture
def gcs(config_dir: Path) -> Iterator[str]:
    """An emulator with bucket ``models`` (a file and a folder) and storage key ``gcs``."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage  # type: ignore[import-untyped]

    with gcs_emulator() as endpoint, token_server(accept=True) as token_uri:
        client = storage.Client(
            project="p",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": endpoint},
        )
        bucket = client.create_bucket("models")
        bucket.blob("one/model.onnx").upload_from_string(b"o" * 900)
        bucket.blob("dir/model.txt").upload_from_string(b"t" * 50)
        bucket.blob("dir/deep/er.bin").upload_from_string(b"d" * 5)
        write_storage_config(config_dir, "gcs", _entry(endpoint, token_uri))
        yield endpoint


def _entry(endpoint: str, token_uri: str, **fields: str) -> dict[str, Any]:
    return {
        "type": "gcs",
        "private_key": PRIVATE_KEY,
        "client_email": "puller@project.iam.gserviceaccount.com",
        "token_uri": token_uri,
        "endpoint_url": endpoint,
        "bucket": "models",
        **fields,
    }


def _key(storage_key: str, **params: str) -> str:
    return json.dumps({"storage_key": storage_key, "storage_params": params})


async def test_pulls_a_file_and_a_folder(puller: Puller, config_dir: Path, gcs: str) -> None:
    one = await puller.pull("one", where(config_dir, "one/model.onnx", _key("gcs")))
    assert one.path.name == "model.onnx" and one.disk_bytes == 900
    folder = await puller.pull("dir", where(config_dir, "dir", _key("gcs")))
    assert folder.path == folder.root and folder.disk_bytes == 55
    assert (folder.root / "deep" / "er.bin").read_bytes() == b"d" * 5
    write_storage_config(config_dir, "default", json.loads((config_dir / "gcs").read_text()))
    uri = await puller.pull("uri", where(config_dir, "gs://models/one/model.onnx"))
    assert uri.disk_bytes == 900


async def test_failures_are_named_and_secret_free(
    puller: Puller, config_dir: Path, gcs: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[StorageError] = []
    with token_server(accept=False) as refusing:
        write_storage_config(config_dir, "refused", _entry(gcs, refusing))
        for path, key in [
            ("one/model.onnx", _key("refused")),
            ("one/model.onnx", _key("gcs", bucket="nope")),
            ("one/none.onnx", _key("gcs")),
        ]:
            with pytest.raises(StorageError) as error:
                await puller.pull(path, where(config_dir, path, key))
            errors.append(error.value)
    refused, no_bucket, no_object = errors
    assert isinstance(refused, AccessDenied) and refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.message.startswith("storage key 'refused' (gcs): getting gs://models/one/")
    assert "the credentials were refused" in refused.message
    assert (
        isinstance(no_bucket, NotInStorage) and "bucket 'nope' does not exist" in no_bucket.message
    )
    assert isinstance(no_object, NotInStorage)
    assert "no object 'one/none.onnx'" in no_object.message
    key_body = PRIVATE_KEY.splitlines()[1]
    for error in errors:
        assert key_body not in error.message
    assert key_body not in caplog.text
    assert list(puller.directory.iterdir()) == []


async def test_a_bad_key_and_a_missing_library(
    puller: Puller, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_storage_config(
        config_dir, "bad", _entry("http://127.0.0.1:9", "http://127.0.0.1:9", private_key="nope")
    )
    with pytest.raises(StorageConfigError, match="private_key is not a PEM private key"):
        await puller.pull("m", where(config_dir, "m", _key("bad")))
    import google.cloud

    # what an environment without the library sees
    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)
    monkeypatch.delattr(google.cloud, "storage")
    with pytest.raises(StorageConfigError, match=r"pip install 'modelmesh\[gcs\]'"):
        await puller.pull("m", where(config_dir, "m", _key("bad")))
