"""Key checks and confined writes: nothing lands outside a model's directory."""

from __future__ import annotations

import io
import threading
from pathlib import Path, PurePosixPath

import pytest

from modelmesh.runtimes.storage.errors import InvalidLocation, PullCancelled, Scope, redact
from modelmesh.runtimes.storage.files import ModelFiles, check_key, check_prefix, disk_bytes


@pytest.mark.parametrize(
    "key", ["", "/etc/passwd", "a/../../b", "..", "a/./b", "a//b", "a/b/..", "nul\0"]
)
def test_bad_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidLocation):
        check_key(key)


def test_good_keys_and_prefixes() -> None:
    assert check_key("a/b c/d+e.bin") == PurePosixPath("a", "b c", "d+e.bin")
    assert check_key("..hidden/x..y") == PurePosixPath("..hidden", "x..y")
    assert check_prefix("models/m/") == "models/m"
    with pytest.raises(InvalidLocation, match="absolute"):
        check_prefix("/")
    with pytest.raises(InvalidLocation, match=r"^storage key 'k' \(s3\): model path"):
        check_prefix("../x", scope=Scope("storage key 'k' (s3)"))


def test_writes_stay_inside_and_count_bytes(tmp_path: Path) -> None:
    root = tmp_path / "model"
    root.mkdir()
    files = ModelFiles(root, threading.Event(), Scope("s"))
    files.write(PurePosixPath("a", "b.bin"), io.BytesIO(b"x" * 3000))
    files.write(PurePosixPath("c.bin"), io.BytesIO(b"y" * 5))
    assert files.bytes_written == 3005 == disk_bytes(root)
    assert (root / "a" / "b.bin").read_bytes() == b"x" * 3000


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "model"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "evil").symlink_to(outside)
    (root / "file.bin").symlink_to(outside / "victim")
    files = ModelFiles(root, threading.Event(), Scope("s"))
    with pytest.raises(InvalidLocation, match="outside the model"):
        files.write(PurePosixPath("evil", "x.bin"), io.BytesIO(b"data"))
    with pytest.raises(FileExistsError):
        files.write(PurePosixPath("file.bin"), io.BytesIO(b"data"))
    assert list(outside.iterdir()) == []


def test_a_cancelled_write_stops(tmp_path: Path) -> None:
    cancel = threading.Event()
    files = ModelFiles(tmp_path, cancel, Scope("storage key 'k' (s3)"))
    cancel.set()
    with pytest.raises(PullCancelled, match=r"^storage key 'k' \(s3\): the pull was cancelled"):
        files.write(PurePosixPath("big.bin"), io.BytesIO(b"z" * 10))


def test_redact_hides_every_secret_longest_first() -> None:
    text = "key abcd-efgh and abcd and ab"
    assert redact(text, ["abcd", "abcd-efgh", "ab"]) == "key <redacted> and <redacted> and ab"
