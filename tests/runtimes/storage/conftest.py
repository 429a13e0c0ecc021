"""Storage fixtures: a storage-config directory and a puller over a cache of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelmesh.runtimes.storage import Puller, StorageConfig, locate
from modelmesh.runtimes.storage.sources import MountedPath, Source


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
