"""Fixtures and helpers for the observability tests: an HTTP client, the size of a loaded
model, and a Prometheus scrape parsed into samples."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelmesh.mesh.app import MeshApp
from modelmesh.protos import model_mesh_pb2 as pb
from tests.mesh.conftest import StartMesh

# (sample name, its labels) -> value
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


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


async def scrape(
    app: MeshApp,
    http: aiohttp.ClientSession,
    scheme: str = "http",
    context: ssl.SSLContext | None = None,
) -> Samples:
    """``/metrics`` of ``app`` over real HTTP(S), parsed as Prometheus exposition text; https
    checks the certificate against ``context``, or not at all without one."""
    assert app.front is not None and app.front.metrics_port
    url = f"{scheme}://127.0.0.1:{app.front.metrics_port}/metrics"
    verify: ssl.SSLContext | bool | None = None
    if scheme == "https":
        verify = context or False
    async with http.get(url, ssl=verify) as reply:
        assert reply.status == 200
        text = await reply.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)
