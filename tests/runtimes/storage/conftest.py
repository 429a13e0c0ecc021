"""Storage fixtures: a storage-config directory and a puller over a cache of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from modelmesh.runtimes.storage import Puller, StorageConfig, locate
from modelmesh.runtimes.storage.sources import MountedPath, Source
from tests.support.storage import S3Server, s3rver


@pytest.fixture(scope="session")
def s3rver_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """s3rver (npm) on loopback: the second S3 implementation the pulls are tested against."""
    with s3rver(tmp_path_factory.mktemp("s3rver")) as server:
        yield server


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "storage-config"
    directory.mkdir()
    return directory


@pytest.fixture
async def puller(tmp_path: Path) -> AsyncIterator[Puller]:
    puller = Puller(tmp_path / "cache", timeout_s=5)
    yield puller
    await puller.close()


def where(config_dir: Path, path: str, key: str = "") -> Source | MountedPath:
    place = locate(path, key, StorageConfig(config_dir), pvc_mounts=Path("/none"))
    assert place is not None
    return place
