"""Fixtures for the observability tests: an HTTP client, and the size of a loaded model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from modelmesh.protos import model_mesh_pb2 as pb
from tests.mesh.conftest import StartMesh


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def model_size(start: StartMesh, clients, tmp_path: Path) -> int:
    """What the test digits model takes in a mesh's cache once loaded (measured, not guessed)."""
    probe = await start(MM_DATA_DIR=str(tmp_path / "probe"))
    await clients(probe).mesh.registerModel(
        pb.RegisterModelRequest(
            modelId="probe",
            modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"),
            loadNow=True,
            sync=True,
        )
    )
    entry = probe.loader.cache.get("probe")
    assert entry is not None
    await probe.stop(0)
    return entry.size
