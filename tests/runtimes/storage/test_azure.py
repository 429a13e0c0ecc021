"""Pulls from Azure Blob Storage's API (Microsoft's Azurite emulator) with Shared Key auth."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from modelmesh.runtimes.storage import Puller, StorageError
from modelmesh.runtimes.storage.errors import AccessDenied, NotInStorage, StorageConfigError
from tests.runtimes.storage.conftest import where
from tests.support.storage import azurite, azurite_connection_string, write_storage_config

pytest.importorskip("azure.storage.blob", reason="the azure extra is not installed")

WRONG_KEY = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="


@pytest.fixture(scope="module")
def blob_endpoint() -> Iterator[str]:
    from azure.storage.blob import BlobServiceClient

    with azurite() as endpoint:
        service = BlobServiceClient.from_connection_string(azurite_connection_string(endpoint))
        container = service.create_container("models")
        container.upload_blob("one/model.onnx", b"o" * 900)
        container.upload_blob("dir/model.txt", b"t" * 50)
        container.upload_blob("dir/deep/er.bin", b"d" * 5)
        yield endpoint


@pytest.fixture
def azure_key(config_dir: Path, blob_endpoint: str) -> str:
    entry = {
        "type": "azure",
        "connection_string": azurite_connection_string(blob_endpoint),
        "container": "models",
    }
    write_storage_config(config_dir, "az", entry)
    entry["connection_string"] = azurite_connection_string(blob_endpoint, WRONG_KEY)
    write_storage_config(config_dir, "wrong", entry)
    return "az"


def _key(storage_key: str, **params: str) -> str:
    return json.dumps({"storage_key": storage_key, "storage_params": params})


async def test_pulls_a_blob_and_a_folder(puller: Puller, config_dir: Path, azure_key: str) -> None:
    one = await puller.pull("one", where(config_dir, "one/model.onnx", _key(azure_key)))
    assert one.path.name == "model.onnx" and one.disk_bytes == 900
    folder = await puller.pull("dir", where(config_dir, "dir/", _key(azure_key)))
    assert folder.path == folder.root and folder.disk_bytes == 55
    assert (folder.root / "deep" / "er.bin").read_bytes() == b"d" * 5


async def test_failures_are_named_and_secret_free(
    puller: Puller, config_dir: Path, azure_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="modelmesh")
    errors: list[StorageError] = []
    for path, key in [
        ("one/model.onnx", _key("wrong")),
        ("one/model.onnx", _key(azure_key, container="nope")),
        ("one/none.onnx", _key(azure_key)),
    ]:
        with pytest.raises(StorageError) as error:
            await puller.pull(path, where(config_dir, path, key))
        errors.append(error.value)
    refused, no_container, no_blob = errors
    assert isinstance(refused, AccessDenied) and refused.code == grpc.StatusCode.FAILED_PRECONDITION
    assert refused.message.startswith("storage key 'wrong' (azure): getting azure blob models/")
    assert "the credentials were refused" in refused.message
    assert isinstance(no_container, NotInStorage)
    assert "container 'nope' does not exist" in no_container.message
    assert isinstance(no_blob, NotInStorage) and "no blob 'one/none.onnx'" in no_blob.message
    for error in errors:
        assert WRONG_KEY not in error.message
    assert WRONG_KEY not in caplog.text
    assert list(puller.directory.iterdir()) == []


async def test_bad_settings_and_a_missing_library(
    puller: Puller, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_storage_config(config_dir, "bad", {"type": "azure", "container": "c", "client_id": "x"})
    with pytest.raises(StorageConfigError, match="needs connection_string, or account_name"):
        await puller.pull("m", where(config_dir, "m", _key("bad")))
    import azure.storage

    monkeypatch.setitem(sys.modules, "azure.storage.blob", None)
    monkeypatch.delattr(azure.storage, "blob")
    with pytest.raises(StorageConfigError, match=r"pip install 'modelmesh\[azure\]'"):
        await puller.pull("m", where(config_dir, "m", _key("bad")))
