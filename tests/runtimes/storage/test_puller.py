"""The puller's bookkeeping: one download per model, bytes counted, copies removed."""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

import pytest

from modelmesh.runtimes.storage import MountedPath, Puller
from modelmesh.runtimes.storage.errors import PullCancelled
from tests.runtimes.storage.conftest import where
from tests.support.storage import file_server, stalling_server


@pytest.fixture
def served(tmp_path: Path) -> Path:
    directory = tmp_path / "www"
    directory.mkdir()
    (directory / "model.joblib").write_bytes(b"j" * 10_000)
    return directory


async def test_concurrent_pulls_of_one_model_download_once(
    puller: Puller, config_dir: Path, served: Path
) -> None:
    with file_server(served) as server:
        source = where(config_dir, f"{server.url}/model.joblib")
        results = await asyncio.gather(*(puller.pull("m1", source) for _ in range(8)))
        again = await puller.pull("m1", source)
    assert len(server.requests) == 1
    assert len({id(result) for result in [*results, again]}) == 1
    assert puller.disk_bytes == 10_000


async def test_bytes_on_disk_are_removed_with_the_model(
    puller: Puller, config_dir: Path, served: Path
) -> None:
    with file_server(served) as server:
        source = where(config_dir, f"{server.url}/model.joblib")
        first = await puller.pull("m1", source)
        second = await puller.pull("m2", source)
    assert first.root != second.root and puller.disk_bytes == 20_000
    await puller.remove("m1")
    assert not first.root.exists() and second.path.exists()
    assert puller.disk_bytes == 10_000 and puller.pulled("m1") is None
    await puller.remove("m1")  # unknown: nothing happens
    await puller.close()
    assert not puller.directory.exists() and list(puller.directory.parent.iterdir()) == []


async def test_removing_a_model_stops_its_pull(tmp_path: Path, config_dir: Path) -> None:
    puller = Puller(tmp_path / "cache", timeout_s=0.5)
    try:
        with stalling_server() as stalled:
            pull = asyncio.create_task(puller.pull("m1", where(config_dir, f"{stalled}/m.onnx")))
            await asyncio.sleep(0.1)
            await puller.remove("m1")
            with pytest.raises(PullCancelled, match="m1 was removed while it was being pulled"):
                await pull
        assert list(puller.directory.iterdir()) == []
    finally:
        await puller.close()


async def test_mounted_models_are_read_in_place_and_kept(puller: Puller, tmp_path: Path) -> None:
    claim = tmp_path / "claim"
    (claim / "m").mkdir(parents=True)
    (claim / "m" / "model.txt").write_bytes(b"t" * 123)
    pulled = await puller.pull("m1", MountedPath(claim / "m", claim))
    assert (pulled.path, pulled.root, pulled.disk_bytes, pulled.copied) == (
        claim / "m",
        claim,
        123,
        False,
    )
    assert puller.disk_bytes == 0  # not a copy of ours
    await puller.remove("m1")
    assert (claim / "m" / "model.txt").exists()


async def test_leftovers_of_dead_runtimes_are_removed(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    live = Puller(cache, timeout_s=1)
    (live.directory / "m-1").mkdir()
    dead = cache / "run-dead"
    (dead / "m-1").mkdir(parents=True)
    (cache / "run-dead.lock").touch()  # its owner is gone: nobody holds the lock
    orphan = cache / "run-nolock"
    orphan.mkdir()
    held = cache / "run-held"
    held.mkdir()
    fd = os.open(cache / "run-held.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process's live puller, as far as anyone can tell
    try:
        second = Puller(cache, timeout_s=1)
        assert not dead.exists() and not (cache / "run-dead.lock").exists()
        assert not orphan.exists()
        assert held.exists() and (live.directory / "m-1").exists()
        await second.close()
    finally:
        os.close(fd)
        await live.close()


async def test_discard_forgets_at_once_and_deletes_in_the_background(
    puller: Puller, config_dir: Path, served: Path
) -> None:
    with file_server(served) as server:
        source = where(config_dir, f"{server.url}/model.joblib")
        first = await puller.pull("m1", source)
        puller.discard("m1")
        assert puller.pulled("m1") is None and puller.disk_bytes == 0
        second = await puller.pull("m1", source)  # pulled afresh, into a new directory
    assert len(server.requests) == 2 and second.root != first.root
    await puller.close()
    assert not first.root.exists() and not second.root.exists()
