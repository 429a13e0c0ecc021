"""The KV backends the contract suite runs against; the etcd backend joins ``BACKENDS`` later."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.kv.store import KVStore

BACKENDS = ["embedded"]


async def open_backend(name: str, tmp_path: Path) -> KVStore:
    if name == "embedded":
        return await EmbeddedStore.open(tmp_path / "kv" / "store.db")
    raise ValueError(f"unknown KV backend {name!r}")


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStore]:
    kv = await open_backend(request.param, tmp_path)
    yield kv
    await kv.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own, so that tests can share one server."""
    return f"test-{uuid.uuid4().hex[:12]}/"
