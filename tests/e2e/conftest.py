"""Fixtures for the end-to-end tests: a real etcd, model files, and a mesh of processes
whose logs are shown when a test fails."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.e2e.client import MeshClient
from tests.e2e.processes import MIB, MeshCluster
from tests.support.etcd import EtcdCluster, etcd_cluster
from tests.support.models import write_sklearn

# short leases and frequent chores, so that failures are noticed within seconds
FAST_CLUSTER_ENV = {
    "CONTAINER_MEM_REQ_BYTES": str(256 * MIB),
    "MEM_BUFFER_BYTES": "0",
    "MM_INSTANCE_LEASE_TTL_MS": "3000",
    "MM_ASSUME_INSTANCE_GONE_AFTER_MS": "1000",
    "MM_REAPER_INTERVAL_MS": "1000",
    "MM_JANITOR_INTERVAL_MS": "2000",
    "SHUTDOWN_TIMEOUT_MS": "20000",
}


@pytest.fixture(scope="session")
def e2e_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sklearn/model.joblib`` (a small digits classifier) and ``corrupt/model.joblib``
    (bytes that are no model)."""
    root = tmp_path_factory.mktemp("e2e-models")
    write_sklearn(root / "sklearn")
    (root / "corrupt").mkdir()
    (root / "corrupt" / "model.joblib").write_bytes(b"these bytes are not a joblib file")
    return root


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdCluster]:
    with etcd_cluster(tmp_path / "etcd") as cluster:
        yield cluster


@pytest.fixture
def mesh(tmp_path: Path, etcd: EtcdCluster, e2e_models: Path) -> Iterator[MeshCluster]:
    """No instance runs yet: ``await mesh.start(3)``. Every instance is killed at the end."""
    cluster = MeshCluster(tmp_path / "mesh", etcd.target, e2e_models, FAST_CLUSTER_ENV)
    yield cluster
    cluster.close()


@pytest.fixture
async def client(mesh: MeshCluster) -> AsyncIterator[MeshClient]:
    c = MeshClient(mesh.endpoints)
    yield c
    await c.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test shows the tail of every instance's log."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    cluster = getattr(item, "funcargs", {}).get("mesh")
    if report.failed and isinstance(cluster, MeshCluster):
        report.sections.append(("mesh instance logs", cluster.logs()))
