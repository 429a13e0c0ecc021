"""The storage-config directory: entries, bad files, re-reading on change, secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelmesh.runtimes.storage.config import StorageConfig, StorageEntry
from modelmesh.runtimes.storage.errors import StorageConfigError
from tests.support.storage import write_storage_config

SECRET = "s3cr3t-value-never-shown"


def test_reads_one_entry_per_file(tmp_path: Path) -> None:
    write_storage_config(tmp_path, "minio", {"type": "S3", "bucket": "b", "region": "eu"})
    write_storage_config(tmp_path, "web", {"type": "https", "url": "https://example.test/m"})
    (tmp_path / "..data").mkdir()  # Kubernetes' own bookkeeping
    config = StorageConfig(tmp_path)
    assert config.keys() == ["minio", "web"]
    entry = config.get("minio")
    assert (entry.type, entry.key, entry.text("bucket"), entry.text("region")) == (
        "s3",
        "minio",
        "b",
        "eu",
    )
    assert entry.name == "storage key 'minio' (s3)"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f'{{"type": "s3", "secret_access_key": "{SECRET}"', "is not valid JSON"),
        (json.dumps([SECRET]), "must be a JSON object"),
        (json.dumps({"secret_access_key": SECRET}), 'has no "type"'),
        (json.dumps({"type": "ftp", "password": SECRET}), "has type 'ftp'; supported types"),
    ],
)
def test_bad_files_name_the_problem_not_the_content(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "broken").write_text(content)
    with pytest.raises(StorageConfigError, match=problem) as error:
        StorageConfig(tmp_path).get("broken")
    assert SECRET not in error.value.message
    assert error.value.message.startswith("storage key 'broken': ")


def test_missing_key_and_missing_configuration(tmp_path: Path) -> None:
    write_storage_config(tmp_path, "a", {"type": "pvc", "name": "claim"})
    with pytest.raises(StorageConfigError, match=r"'nope' is not in .* \(keys: a\)"):
        StorageConfig(tmp_path).get("nope")
    with pytest.raises(StorageConfigError, match="no storage configuration is set"):
        StorageConfig(None).get("a")
    assert StorageConfig(tmp_path / "absent").keys() == []
    assert StorageConfig(tmp_path).find("nope") is None


def test_files_are_re_read_when_they_change(tmp_path: Path) -> None:
    path = write_storage_config(tmp_path, "k", {"type": "s3", "bucket": "one"})
    config = StorageConfig(tmp_path)
    assert config.get("k").text("bucket") == "one"
    path.write_text(json.dumps({"type": "s3", "bucket": "two-longer"}))
    assert config.get("k").text("bucket") == "two-longer"
    # same size, same mtime: only the inode tells (an atomic replace, as editors do)
    replacement = tmp_path / ".tmp"
    replacement.write_text(json.dumps({"type": "s3", "bucket": "tri-longer"}))
    stat = path.stat()
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    replacement.replace(path)
    assert config.get("k").text("bucket") == "tri-longer"
    write_storage_config(tmp_path, "new", {"type": "pvc"})
    path.unlink()
    assert config.keys() == ["new"]


def test_a_kubernetes_secret_swap_is_seen(tmp_path: Path) -> None:
    """A mounted Secret: key -> ..data/key, ..data -> ..<timestamp>; updates swap ..data."""
    first, second = tmp_path / "..2026_01", tmp_path / "..2026_02"
    write_storage_config(first, "k", {"type": "s3", "bucket": "old"})
    write_storage_config(second, "k", {"type": "s3", "bucket": "new"})
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "k").symlink_to("..data/k")
    config = StorageConfig(tmp_path)
    assert config.keys() == ["k"]
    assert config.get("k").text("bucket") == "old"
    (tmp_path / "..data_tmp").symlink_to(second.name)
    (tmp_path / "..data_tmp").replace(tmp_path / "..data")
    assert config.get("k").text("bucket") == "new"


def test_params_override_and_secrets() -> None:
    entry = StorageEntry(
        "s3",
        {
            "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": SECRET,
            "bucket": "a",
            "endpoint_url": "https://user:hunter22@host/?token=tok-123",
        },
        "k",
    )
    merged = entry.with_params({"bucket": "b", "type": "S3"})
    assert (merged.type, merged.text("bucket"), merged.key) == ("s3", "b", "k")
    assert set(merged.secrets()) >= {"AKIDEXAMPLE", SECRET, "hunter22", "tok-123"}
    headers = StorageEntry("http", {"headers": {"Authorization": "Bearer xyz-token"}})
    assert headers.secrets() == ("Bearer xyz-token",)


def test_field_types_are_checked() -> None:
    entry = StorageEntry("http", {"url": 3, "headers": {"a": 1}}, "k")
    with pytest.raises(StorageConfigError, match="'url' must be a string"):
        entry.text("url")
    with pytest.raises(StorageConfigError, match="'headers' must be an object of strings"):
        entry.strings("headers")
    assert StorageEntry("s3", {"default_bucket": "d"}).text("bucket", "default_bucket") == "d"
