"""Pulls from moto's S3 on loopback: files, folders, and every failure named, secret-free."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import grpc
import pytest

from modelmesh.runtimes.storage import Puller, StorageError
from modelmesh.runtimes.storage.errors import (
    AccessDenied,
    InvalidLocation,
    NotInStorage,
    PullFailed,
    PullTimedOut,
)
from modelmesh.runtimes.storage.s3 import S3Source
from tests.runtimes.storage.conftest import where
from tests.support.storage import S3Server, stalling_server, write_storage_config

WRONG_SECRET = "wrong-secret-0123456789abcdef"
WRONG_KEY_ID = "AKIAWRONGWRONGWRONG1"


def _key(storage_key: str, **params: str) -> str:
    return json.dumps({"storage_key": storage_key, "storage_params": params})


@pytest.fixture(params=["moto", "s3rver"])
def s3(request: pytest.FixtureRequest) -> S3Server:
    """Each S3 implementation in turn: moto (in process) and s3rver (node, files on disk)."""
    return request.getfixturevalue("s3_server" if request.param == "moto" else "s3rver_server")


@pytest.fixture
def bucket(s3: S3Server, tmp_path: Path, config_dir: Path) -> str:
    """A bucket holding a file and a folder, and storage key ``s3`` for it."""
    bucket = s3.new_bucket()
    client = s3.client()
    client.put_object(Bucket=bucket, Key="single/model.joblib", Body=b"m" * 1500)
    client.put_object(Bucket=bucket, Key="folder/model.onnx", Body=b"o" * 700)
    client.put_object(Bucket=bucket, Key="folder/sub dir/extra+1.txt", Body=b"e" * 30)
    client.put_object(Bucket=bucket, Key="folder/empty/", Body=b"")  # a folder marker
    client.put_object(Bucket=bucket, Key="folder-other/x", Body=b"not ours")
    write_storage_config(config_dir, "s3", s3.entry(bucket))
    return bucket


async def test_pulls_a_single_object(puller: Puller, config_dir: Path, bucket: str) -> None:
    pulled = await puller.pull("m1", where(config_dir, "single/model.joblib", _key("s3")))
    assert pulled.path == pulled.root / "model.joblib"
    assert pulled.path.read_bytes() == b"m" * 1500
    assert pulled.disk_bytes == 1500 == puller.disk_bytes
    assert pulled.root.parent == puller.directory


async def test_pulls_every_object_under_a_prefix(
    puller: Puller, config_dir: Path, bucket: str
) -> None:
    for path in ("folder", "folder/"):
        pulled = await puller.pull(path, where(config_dir, path, _key("s3")))
        assert pulled.path == pulled.root
        files = sorted(
            str(p.relative_to(pulled.root)) for p in pulled.root.rglob("*") if p.is_file()
        )
        assert files == ["model.onnx", "sub dir/extra+1.txt"]
        assert pulled.disk_bytes == 730
    assert puller.disk_bytes == 1460
    await puller.remove("folder")
    assert puller.disk_bytes == 730


async def test_s3_uri_with_the_default_key(
    s3: S3Server, puller: Puller, config_dir: Path, bucket: str
) -> None:
    write_storage_config(config_dir, "default", s3.entry())
    pulled = await puller.pull("m1", where(config_dir, f"s3://{bucket}/single/model.joblib"))
    assert pulled.disk_bytes == 1500


async def _pull_error(puller: Puller, config_dir: Path, path: str, key: str) -> StorageError:
    with pytest.raises(StorageError) as error:
        await puller.pull("m1", where(config_dir, path, key))
    assert puller.pulled("m1") is None
    assert list(puller.directory.iterdir()) == []  # nothing left behind
    return error.value


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"secret_access_key": WRONG_SECRET}, "SignatureDoesNotMatch"),
        ({"access_key_id": WRONG_KEY_ID, "secret_access_key": WRONG_SECRET}, "InvalidAccessKeyId"),
    ],
)
async def test_wrong_credentials(
    s3: S3Server,
    puller: Puller,
    config_dir: Path,
    bucket: str,
    fields: dict[str, str],
    code: str,
) -> None:
    if s3.access_key == "S3RVER" and code == "SignatureDoesNotMatch":
        pytest.skip("s3rver checks the key id but does not verify Signature V4")
    write_storage_config(config_dir, "bad", s3.entry(bucket, **fields))
    error = await _pull_error(puller, config_dir, "single/model.joblib", _key("bad"))
    assert isinstance(error, AccessDenied) and error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.message.startswith("storage key 'bad' (s3): ")
    assert f"refused the credentials ({code}" in error.message


async def test_missing_bucket_and_object(puller: Puller, config_dir: Path, bucket: str) -> None:
    error = await _pull_error(puller, config_dir, "single/model.joblib", _key("s3", bucket="nope"))
    assert isinstance(error, NotInStorage) and error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "storage key 's3' (s3): bucket 'nope' at http://127.0.0.1:" in error.message
    assert error.message.endswith("does not exist")
    error = await _pull_error(puller, config_dir, "single/missing.joblib", _key("s3"))
    assert isinstance(error, NotInStorage)
    assert (
        "no object 'single/missing.joblib' and no objects under 'single/missing.joblib/' "
        f"in bucket '{bucket}'"
    ) in error.message


async def test_object_keys_escaping_the_model_are_refused(
    s3: S3Server, puller: Puller, config_dir: Path, bucket: str, tmp_path: Path
) -> None:
    if s3.access_key == "S3RVER":
        pytest.skip("s3rver stores objects as files under their keys: '..' would escape it")
    s3.client().put_object(Bucket=bucket, Key="evil/ok.bin", Body=b"fine")
    s3.client().put_object(Bucket=bucket, Key="evil/../../../escaped.bin", Body=b"bad")
    error = await _pull_error(puller, config_dir, "evil", _key("s3"))
    assert isinstance(error, InvalidLocation) and error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "object key 'evil/../../../escaped.bin'" in error.message
    assert not _found(tmp_path, "escaped.bin")


def _found(directory: Path, name: str) -> list[Path]:
    return list(directory.rglob(name))


async def test_a_silent_server_times_out(s3: S3Server, tmp_path: Path, config_dir: Path) -> None:
    puller = Puller(tmp_path / "cache", timeout_s=0.3)
    try:
        with stalling_server() as endpoint:
            write_storage_config(config_dir, "slow", s3.entry("b", endpoint_url=endpoint))
            error = await _pull_error(puller, config_dir, "m.joblib", _key("slow"))
    finally:
        await puller.close()
    assert isinstance(error, PullTimedOut) and error.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert error.message.startswith("storage key 'slow' (s3): getting s3://b/m.joblib at ")
    assert "no answer within 0.3 s" in error.message


async def test_an_unreachable_endpoint(s3: S3Server, puller: Puller, config_dir: Path) -> None:
    with stalling_server() as endpoint:
        pass  # the port is closed again
    write_storage_config(config_dir, "gone", s3.entry("b", endpoint_url=endpoint))
    error = await _pull_error(puller, config_dir, "m.joblib", _key("gone"))
    assert isinstance(error, PullFailed) and error.code == grpc.StatusCode.INTERNAL
    assert "ConnectionRefusedError" in error.message


async def test_no_error_or_log_line_shows_a_secret(
    s3: S3Server,
    puller: Puller,
    config_dir: Path,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every failing pull, logged at DEBUG: no credential appears in a message or our logs
    (moto's own debug log, on the server side, prints request headers; it is left out)."""
    caplog.set_level(logging.DEBUG)
    secrets = [WRONG_SECRET, WRONG_KEY_ID, s3.secret_key, s3.access_key]
    with stalling_server() as stalled:
        entries = {
            "wrong": {"access_key_id": WRONG_KEY_ID, "secret_access_key": WRONG_SECRET},
            "stalled": {"endpoint_url": stalled},
            "one-key-only": {"secret_access_key": ""},
        }
        for name, fields in entries.items():
            write_storage_config(config_dir, name, s3.entry(bucket, **fields))
        messages = []
        puller.timeout_s = 0.2
        for path, key in [
            ("single/model.joblib", _key("wrong")),
            ("single/model.joblib", _key("s3", bucket="nope")),
            ("missing", _key("s3")),
            ("single/model.joblib", _key("stalled")),
            ("x", _key("one-key-only")),
            ("../x", _key("s3")),
        ]:
            with pytest.raises(StorageError) as error:
                await puller.pull(path, where(config_dir, path, key))
            messages.append(error.value.message)
    assert len(set(messages)) == 6
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("modelmesh"))
    assert "pulling model single/model.joblib failed" in ours
    for secret in secrets:
        assert all(secret not in message for message in messages)
        assert secret not in ours


def test_source_description_has_no_secret(config_dir: Path, s3: S3Server) -> None:
    write_storage_config(config_dir, "k", s3.entry("b", secret_access_key=WRONG_SECRET))
    source = where(config_dir, "m/", _key("k"))
    assert isinstance(source, S3Source)
    assert source.describe().startswith("s3://b/m/ at http://127.0.0.1:")
    assert WRONG_SECRET not in repr(source.describe())
