"""Pulls from a local HTTP server: the file, headers, redirects, failures, timeouts."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import grpc
import pytest

from modelmesh.runtimes.storage import Puller, StorageError
from modelmesh.runtimes.storage.errors import NotInStorage, PullTimedOut
from tests.runtimes.storage.conftest import where
from tests.support.storage import (
    file_server,
    make_certificates,
    stalling_server,
    write_storage_config,
)

TOKEN = "Bearer tok-0123456789"


@pytest.fixture
def served(tmp_path: Path) -> Path:
    directory = tmp_path / "www"
    (directory / "m").mkdir(parents=True)
    (directory / "m" / "model.onnx").write_bytes(b"o" * 4096)
    return directory


async def test_pulls_a_url_with_the_entry_headers(
    puller: Puller, config_dir: Path, served: Path
) -> None:
    with file_server(served) as server:
        write_storage_config(
            config_dir,
            "web",
            {"type": "http", "url": server.url, "headers": {"Authorization": TOKEN}},
        )
        key = json.dumps({"storage_key": "web"})
        pulled = await puller.pull("m1", where(config_dir, "m/model.onnx", key))
        direct = await puller.pull("m2", where(config_dir, f"{server.url}/m/model.onnx?v=1"))
    assert pulled.path == pulled.root / "model.onnx" and pulled.disk_bytes == 4096
    assert direct.path.name == "model.onnx" and direct.path.read_bytes() == b"o" * 4096
    (path1, headers1), (path2, headers2) = server.requests
    assert (path1, headers1["Authorization"]) == ("/m/model.onnx", TOKEN)
    assert (path2, "Authorization" in headers2) == ("/m/model.onnx?v=1", False)


async def test_headers_do_not_follow_a_redirect_to_another_host(
    puller: Puller, config_dir: Path, served: Path
) -> None:
    with file_server(served) as origin, file_server(served) as other:
        origin.redirects["/same"] = "/m/model.onnx"
        origin.redirects["/away"] = f"{other.url}/m/model.onnx"
        write_storage_config(
            config_dir,
            "web",
            {"type": "http", "url": origin.url, "headers": {"Authorization": TOKEN}},
        )
        key = json.dumps({"storage_key": "web"})
        await puller.pull("same", where(config_dir, "same", key))
        await puller.pull("away", where(config_dir, "away", key))
    assert [h.get("Authorization") for _, h in origin.requests] == [TOKEN, TOKEN, TOKEN]
    assert [(p, h.get("Authorization")) for p, h in other.requests] == [("/m/model.onnx", None)]


async def test_missing_file_and_silent_server(
    tmp_path: Path, config_dir: Path, served: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    puller = Puller(tmp_path / "cache", timeout_s=0.3)
    write_storage_config(config_dir, "web", {"type": "https", "headers": {"X-Token": TOKEN}})
    try:
        with file_server(served) as server:
            url = f"{server.url}/m/nothing.onnx?signature=sig-secret-987"
            key = json.dumps({"storage_key": "web"})
            with pytest.raises(NotInStorage) as missing:
                await puller.pull("m1", where(config_dir, url, key))
        with stalling_server() as stalled, pytest.raises(PullTimedOut) as timed_out:
            await puller.pull("m2", where(config_dir, f"{stalled}/model.onnx", key))
    finally:
        await puller.close()
    assert missing.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert missing.value.message == (
        f"storage key 'web' (https): {server.url}/m/nothing.onnx does not exist (HTTP 404)"
    )
    assert timed_out.value.message.startswith(
        f"storage key 'web' (https): getting {stalled}/model.onnx: no answer within 0.3 s"
    )
    for secret in ("sig-secret-987", TOKEN):
        assert secret not in missing.value.message + timed_out.value.message
        assert secret not in caplog.text


async def test_urls_of_other_schemes_are_refused(puller: Puller, config_dir: Path) -> None:
    write_storage_config(config_dir, "web", {"type": "http", "url": "file:///etc/passwd"})
    with pytest.raises(StorageError, match="is not an http:// or https:// URL"):
        await puller.pull("m1", where(config_dir, "", json.dumps({"storage_key": "web"})))


async def test_https_with_the_entry_ca_and_a_client_certificate(
    puller: Puller, config_dir: Path, served: Path, tmp_path: Path
) -> None:
    certificates = make_certificates()
    key_files = _tls_key_files()
    tls = certificates.server_context(tmp_path / "tls", require_client=True)
    with file_server(served, tls) as server:
        entry = {
            "type": "https",
            "url": server.url,
            "certificate": certificates.ca,
            "client_certificate": certificates.client_cert,
            "client_key": certificates.client_key,
        }
        write_storage_config(config_dir, "tls", entry)
        pulled = await puller.pull("m1", where(config_dir, "m/model.onnx", _key("tls")))
        assert pulled.disk_bytes == 4096
        write_storage_config(config_dir, "no-ca", {**entry, "certificate": ""})
        with pytest.raises(StorageError, match="TLS failed: CERTIFICATE_VERIFY_FAILED") as error:
            await puller.pull("m2", where(config_dir, "m/model.onnx", _key("no-ca")))
        write_storage_config(config_dir, "no-client", {**entry, "client_certificate": ""})
        with pytest.raises(StorageError) as refused:
            await puller.pull("m3", where(config_dir, "m/model.onnx", _key("no-client")))
    assert error.value.code == grpc.StatusCode.INTERNAL
    assert refused.value.message.startswith("storage key 'no-client' (https): getting ")
    key_line = certificates.client_key.splitlines()[1]
    assert key_line not in error.value.message + refused.value.message
    assert _tls_key_files() == key_files  # the client key's files are gone again


def _tls_key_files() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("mm-tls-*"))


def _key(storage_key: str) -> str:
    return json.dumps({"storage_key": storage_key})
