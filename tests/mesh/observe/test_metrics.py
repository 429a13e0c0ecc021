"""Prometheus metrics scraped over real HTTP from a real mesh, parsed as exposition text."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import pytest

from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import Clients, StartMesh
from tests.mesh.observe.conftest import Samples, scrape, total
from tests.support.etcd import make_tls_files
from tests.support.models import digits

INFER = "ModelInfer"


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


async def _register(c: Clients, model_id: str, path: str = "sklearn") -> None:
    await c.mesh.registerModel(
        pb.RegisterModelRequest(modelId=model_id, modelInfo=pb.ModelInfo(type="sklearn", path=path))
    )


async def _infer(c: Clients, name: str) -> grpc.StatusCode:
    try:
        await c.v2.ModelInfer(build_infer_request(name, {"x": np.asarray(digits()[0][:2])}))
    except grpc.aio.AioRpcError as err:
        return err.code()
    return grpc.StatusCode.OK


async def test_counters_move_by_exactly_the_traffic(
    start: StartMesh, clients, mesh_models: Path, http: aiohttp.ClientSession, model_size: int
) -> None:
    size = model_size
    app = await start(CONTAINER_MEM_REQ_BYTES=str(int(size * 2.5)))  # room for two copies
    c = clients(app)
    broken = mesh_models / "broken"
    broken.mkdir()
    (broken / "model.joblib").write_bytes(b"not a model")
    for model_id in ("m0", "m1", "m2"):
        await _register(c, model_id)
    await _register(c, "broken", path="broken")

    before = await scrape(app, http)
    # the failed load first, while the cache is empty: making room for it would evict too
    codes = [await _infer(c, name) for name in ("broken", "m0", "m0", "m1", "m2", "nope")]
    assert codes[0] != grpc.StatusCode.OK and codes[5] == grpc.StatusCode.NOT_FOUND
    assert codes[1:5] == [grpc.StatusCode.OK] * 4  # m2 evicted m0, the least recently used
    await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="m0"))
    deadline = time.monotonic() + 10
    while True:  # the evicted copy is unloaded in the background
        after = await scrape(app, http)
        if moved(before, after, "modelmesh_unloadmodel_milliseconds_count") or (
            time.monotonic() > deadline
        ):
            break
        await asyncio.sleep(0.05)

    def delta(name: str, **labels: str) -> float:
        return moved(before, after, name, **labels)

    assert delta("modelmesh_api_request_milliseconds_count", method=INFER) == 6
    assert delta("modelmesh_api_request_milliseconds_count", method=INFER, code="OK") == 4
    assert delta("modelmesh_api_request_milliseconds_count", method=INFER, code="NOT_FOUND") == 1
    assert delta("modelmesh_api_request_milliseconds_count", method="getModelStatus") == 1
    assert delta("modelmesh_request_size_bytes_count", method=INFER) == 6
    assert delta("modelmesh_response_size_bytes_count", method=INFER) == 6
    # hits and misses: one request found its model loaded; four waited for a load (three
    # loaded, one failed); the unknown model is neither
    assert delta("modelmesh_invoke_model_milliseconds_count") == 1
    assert delta("modelmesh_cache_miss_milliseconds_count") == 4
    assert delta("modelmesh_loading_queue_delay_milliseconds_count") == 4
    assert delta("modelmesh_loadmodel_milliseconds_count") == 3
    assert delta("modelmesh_loaded_model_size_bytes_count") == 3
    assert delta("modelmesh_loaded_model_size_bytes_sum") == 3 * size
    assert delta("modelmesh_loadmodel_failure_total") == 1
    assert delta("modelmesh_model_evicted_total") == 1
    assert delta("modelmesh_age_at_eviction_milliseconds_count") == 1
    assert delta("modelmesh_unloadmodel_milliseconds_count") == 1
    assert delta("modelmesh_unloadmodel_failure_total") == 0

    capacity = app.loader.cache.capacity
    assert total(after, "modelmesh_instance_capacity_bytes") == capacity
    assert total(after, "modelmesh_instance_used_bytes") == 2 * size
    assert total(after, "modelmesh_instance_used_bps") == 2 * size * 10_000 // capacity
    assert total(after, "modelmesh_instance_models_total") == 2
    lru_s = total(after, "modelmesh_instance_lru_seconds")
    assert time.time() - 60 < lru_s <= time.time()
    assert 0 <= total(after, "modelmesh_instance_lru_age_seconds") <= 60
    assert total(after, "modelmesh_models_managed_total") == 4
    assert total(after, "modelmesh_models_loaded_total") == 2
    assert total(after, "modelmesh_models_with_failure_total") == 1
    assert total(after, "process_cpu_seconds_total") > 0
    assert total(after, "process_resident_memory_bytes") > 0
    # no per-model labels unless asked for
    assert not any(("modelId", "m1") in labels for _, labels in after)


async def test_per_model_metrics_and_fq_names_add_labels(
    start: StartMesh, clients, http: aiohttp.ClientSession
) -> None:
    app = await start(MM_METRICS="prometheus:port=0;per_model_metrics=true;fq_names")
    c = clients(app)
    await _register(c, "m")
    assert await _infer(c, "m") == grpc.StatusCode.OK
    samples = await scrape(app, http)
    method = "inference.GRPCInferenceService/ModelInfer"
    request = {("method", method), ("code", "OK"), ("modelId", "m"), ("vModelId", "")}
    assert any(
        n == "modelmesh_api_request_milliseconds_count" and labels == request
        for n, labels in samples
    )
    assert total(samples, "modelmesh_loadmodel_milliseconds_count", modelId="m") == 1
    size = app.loader.cache.get("m").size  # type: ignore[union-attr]
    assert total(samples, "modelmesh_model_memory_bytes", modelId="m") == size


async def test_https_with_a_self_signed_certificate(
    start: StartMesh, http: aiohttp.ClientSession
) -> None:
    app = await start(MM_METRICS="prometheus:port=0;scheme=https")
    samples = await scrape(app, http, scheme="https")
    assert total(samples, "modelmesh_instance_capacity_bytes") == app.loader.cache.capacity
    with pytest.raises(aiohttp.ClientError):
        await scrape(app, http, scheme="http")


async def test_https_with_the_instance_certificate(
    start: StartMesh, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    pki = make_tls_files(tmp_path / "pki")
    app = await start(
        MM_METRICS="prometheus:port=0;scheme=https",
        MM_TLS_KEY_CERT_PATH=str(pki.server_cert),
        MM_TLS_PRIVATE_KEY_PATH=str(pki.server_key),
        MM_TLS_TRUST_CERT_PATH=str(pki.ca),
        # the API ports want client certificates; Prometheus has none and still scrapes
        MM_TLS_CLIENT_AUTH="require",
    )
    trusting_the_ca = ssl.create_default_context(cafile=str(pki.ca))
    samples = await scrape(app, http, scheme="https", context=trusting_the_ca)
    assert total(samples, "modelmesh_instance_capacity_bytes") == app.loader.cache.capacity


async def test_disabled_metrics_serve_nothing(start: StartMesh) -> None:
    app = await start(MM_METRICS="disabled")
    assert app.front is not None and app.front.metrics_port == 0
