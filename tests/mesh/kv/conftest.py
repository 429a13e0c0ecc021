"""The KV backends the contract suite runs against: the embedded store and a real etcd."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from modelmesh.mesh.kv.embedded import EmbeddedStore
from modelmesh.mesh.kv.etcd import EtcdStore
from modelmesh.mesh.kv.etcd_config import parse_etcd_target
from modelmesh.mesh.kv.store import KVStore
from tests.support.etcd import EtcdCluster, etcd_cluster

BACKENDS = ["embedded", "etcd"]


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    """One etcd node for the whole session; tests keep to their own key prefix."""
    with etcd_cluster(tmp_path_factory.mktemp("etcd")) as cluster:
        yield cluster


async def open_backend(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> KVStore:
    if name == "embedded":
        return await EmbeddedStore.open(tmp_path / "kv" / "store.db")
    if name == "etcd":
        server: EtcdCluster = request.getfixturevalue("etcd_server")
        return await EtcdStore.connect(parse_etcd_target(server.target))
    raise ValueError(f"unknown KV backend {name!r}")


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KVStore]:
    kv = await open_backend(request.param, tmp_path, request)
    yield kv
    await kv.close()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own, so that tests can share one server."""
    return f"test-{uuid.uuid4().hex[:12]}/"
