"""Model path and key -> where the model is, in each form upstream's controller writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelmesh.runtimes.storage.azure import AzureSource
from modelmesh.runtimes.storage.config import StorageConfig
from modelmesh.runtimes.storage.errors import InvalidLocation, NotInStorage, StorageConfigError
from modelmesh.runtimes.storage.gcs import GcsSource
from modelmesh.runtimes.storage.http import HttpSource
from modelmesh.runtimes.storage.locations import locate, names_storage, with_disk_size
from modelmesh.runtimes.storage.s3 import S3Source
from modelmesh.runtimes.storage.sources import MountedPath, Source
from tests.support.storage import write_storage_config


@pytest.fixture
def config(tmp_path: Path) -> StorageConfig:
    directory = tmp_path / "storage-config"
    write_storage_config(
        directory,
        "minio",
        {
            "type": "s3",
            "access_key_id": "AK",
            "secret_access_key": "SK-secret",
            "endpoint_url": "http://127.0.0.1:9000",
            "default_bucket": "models",
        },
    )
    write_storage_config(
        directory, "web", {"type": "https", "url": "https://h.test/base/", "headers": {"A": "B"}}
    )
    write_storage_config(directory, "default", {"type": "s3", "region": "eu-west-1"})
    return StorageConfig(directory)


def _key(storage_key: str | None = None, **params: str) -> str:
    return json.dumps(
        {"storage_key": storage_key, "storage_params": params, "model_type": {"name": "sklearn"}}
    )


def _locate(
    config: StorageConfig, path: str, key: str = "", mounts: Path = Path("/none")
) -> Source | MountedPath | None:
    return locate(path, key, config, pvc_mounts=mounts)


def test_local_models_name_no_storage(config: StorageConfig) -> None:
    for path, key in [("sklearn/m.joblib", ""), ("m", "opaque key"), ("m", '{"model_type": {}}')]:
        assert not names_storage(path, key)
        assert _locate(config, path, key) is None


def test_storage_key_with_params(config: StorageConfig) -> None:
    source = _locate(config, "digits/model.joblib", _key("minio"))
    assert isinstance(source, S3Source)
    assert (source.bucket, source.path, source.folder) == ("models", "digits/model.joblib", False)
    assert (source.endpoint, source.region, source.access_key) == (
        "http://127.0.0.1:9000",
        "us-east-1",
        "AK",
    )
    source = _locate(config, "digits/", _key("minio", bucket="other"))
    assert isinstance(source, S3Source)
    assert (source.bucket, source.path, source.folder) == ("other", "digits", True)
    assert "SK-secret" in source.scope.secrets and source.scope.name == "storage key 'minio' (s3)"


def test_gs_uri(config: StorageConfig) -> None:
    source = _locate(config, "gs://bucket-g/m/")
    assert isinstance(source, GcsSource)
    assert (source.bucket, source.path, source.folder, source.private_key) == (
        "bucket-g",
        "m",
        True,
        None,
    )


def test_s3_uri_takes_the_default_key(config: StorageConfig) -> None:
    source = _locate(config, "s3://bucket-x/path/to/m")
    assert isinstance(source, S3Source)
    assert (source.bucket, source.path, source.region) == ("bucket-x", "path/to/m", "eu-west-1")
    assert source.endpoint == "https://s3.eu-west-1.amazonaws.com"
    assert source.access_key is None  # unsigned: the default entry has no keys
    source = _locate(config, "s3://b2/m", _key("minio"))
    assert isinstance(source, S3Source) and (source.bucket, source.access_key) == ("b2", "AK")


def test_http_forms(config: StorageConfig) -> None:
    source = _locate(config, "https://files.test/m/model.onnx?sig=abc123")
    assert isinstance(source, HttpSource)
    assert source.url == "https://files.test/m/model.onnx?sig=abc123"
    assert "abc123" in source.scope.secrets
    assert source.describe() == "https://files.test/m/model.onnx"
    source = _locate(config, "m/model.onnx", _key("web"))
    assert isinstance(source, HttpSource)
    assert (source.url, dict(source.headers)) == ("https://h.test/base/m/model.onnx", {"A": "B"})


def test_pvc_forms(config: StorageConfig, tmp_path: Path) -> None:
    mounts = tmp_path / "pvc"
    (mounts / "claim" / "m").mkdir(parents=True)
    (mounts / "claim" / "m" / "model.joblib").write_bytes(b"x")
    (mounts / "claim" / "out").symlink_to(tmp_path)
    for path, key in [
        ("pvc://claim/m", ""),
        ("m", json.dumps({"storage_params": {"type": "pvc", "name": "claim"}})),
    ]:
        place = _locate(config, path, key, mounts)
        assert place == MountedPath(mounts / "claim" / "m", mounts / "claim")
    with pytest.raises(InvalidLocation, match="leads out of PVC 'claim'"):
        _locate(config, "pvc://claim/out", "", mounts)
    with pytest.raises(InvalidLocation, match=r"'\.\.' segment"):
        _locate(config, "pvc://claim/../claim/m", "", mounts)
    with pytest.raises(NotInStorage, match="PVC 'other' is not mounted"):
        _locate(config, "pvc://other/m", "", mounts)


@pytest.mark.parametrize(
    ("path", "key", "error", "message"),
    [
        ("m", _key("nope"), StorageConfigError, "'nope' is not in the storage configuration"),
        ("../m", _key("minio"), InvalidLocation, "'..' segment"),
        ("/abs/m", _key("minio"), InvalidLocation, "is absolute"),
        ("ftp://h/m", "", InvalidLocation, "URI scheme 'ftp'"),
        ("s3://b/m", _key("web"), InvalidLocation, "s3 URI but storage key 'web'"),
        ("m", json.dumps({"storage_params": {"bucket": "b"}}), None, None),
        ("m", json.dumps({"storage_key": 7}), InvalidLocation, "storage_key must be a string"),
        (
            "m",
            json.dumps({"storage_params": {"type": "azure", "account_name": "a"}}),
            InvalidLocation,
            "no container",
        ),
    ],
)
def test_bad_locations(
    config: StorageConfig, path: str, key: str, error: type[Exception] | None, message: str
) -> None:
    if error is None:  # params without a key fall back to the default entry
        assert isinstance(_locate(config, path, key), S3Source)
        return
    with pytest.raises(error, match=message):
        _locate(config, path, key)


def test_params_alone_need_a_type(tmp_path: Path) -> None:
    with pytest.raises(InvalidLocation, match='no storage_key, no "type"'):
        _locate(StorageConfig(None), "m", json.dumps({"storage_params": {"bucket": "b"}}))
    source = _locate(
        StorageConfig(None), "m", json.dumps({"storage_params": {"type": "s3", "bucket": "b"}})
    )
    assert isinstance(source, S3Source) and source.bucket == "b"


def test_with_disk_size() -> None:
    assert json.loads(with_disk_size(_key("minio"), 42))["disk_size_bytes"] == 42
    assert with_disk_size("opaque", 42) == "opaque"
    assert json.loads(with_disk_size("", 7)) == {"disk_size_bytes": 7}


@pytest.mark.parametrize(
    ("storage_uri", "expected"),
    [
        ("s3://bucket-x/digits/model.joblib", ("s3", "bucket-x", "digits/model.joblib")),
        ("https://files.test/m/model.onnx", ("http", "https://files.test/m/model.onnx", "")),
        ("pvc://claim/m", ("pvc", "claim", "m")),
        ("file://sklearn/model.joblib", None),
        ("https://acct.blob.core.windows.net/models/m/v1", ("azure", "models", "m/v1")),
    ],
)
def test_what_the_controller_writes_is_understood(
    config: StorageConfig, tmp_path: Path, storage_uri: str, expected: tuple[str, str, str] | None
) -> None:
    """The controller turns a storageUri into a path and storage_params, as upstream's."""
    from modelmesh.controller.sources import parse_storage_uri

    path, params = parse_storage_uri(storage_uri)
    key = json.dumps({"storage_key": None, "storage_params": params, "model_type": {"name": "x"}})
    mounts = tmp_path / "pvc"
    (mounts / "claim" / "m").mkdir(parents=True)
    place = _locate(config, path, key, mounts)
    if expected is None:
        assert place is None and path == "sklearn/model.joblib"
    elif expected[0] == "s3":
        assert isinstance(place, S3Source) and (place.bucket, place.path) == expected[1:]
    elif expected[0] == "azure":
        assert isinstance(place, AzureSource) and (place.container, place.path) == expected[1:]
        assert place.account_name == "acct"
    elif expected[0] == "http":
        assert isinstance(place, HttpSource) and place.url == expected[1]
    else:
        assert place == MountedPath(mounts / "claim" / "m", mounts / "claim")
