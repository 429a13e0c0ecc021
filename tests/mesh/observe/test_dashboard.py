"""The Grafana dashboard the chart ships: well-formed, and every metric it plots is one a
real mesh exports (``namespace`` and ``pod`` are added by Prometheus' scrape, not here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.runtimes.tensors import build_infer_request
from tests.mesh.conftest import StartMesh
from tests.mesh.observe.conftest import scrape
from tests.support.models import digits

DASHBOARD = Path(__file__).parents[3] / "charts" / "modelmesh" / "files" / "grafana-dashboard.json"
_METRIC = re.compile(r"\b((?:modelmesh|process)_[a-z_]+)\b")


def _panels() -> list[dict[str, Any]]:
    return list(json.loads(DASHBOARD.read_text())["panels"])


def _exprs() -> list[str]:
    return [t["expr"] for p in _panels() for t in p.get("targets", [])]


def test_the_dashboard_is_well_formed() -> None:
    doc = json.loads(DASHBOARD.read_text())
    panels = _panels()
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in panels)
    variables = {v["name"] for v in doc["templating"]["list"]}
    for expr in _exprs():
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr
        assert set(re.findall(r"\$(\w+)", expr)) - {"__rate_interval"} <= variables, expr
    titles = " ".join(p["title"].lower() for p in panels)
    for subject in ("lru age", "capacity", "model counts", "request rate", "latency", "misses"):
        assert subject in titles, subject
    assert "eviction" in titles and "load" in titles


async def test_every_plotted_metric_is_exported(
    start: StartMesh, clients, http: aiohttp.ClientSession
) -> None:
    app = await start()
    c = clients(app)
    await c.mesh.registerModel(
        pb.RegisterModelRequest(modelId="m", modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"))
    )
    request = build_infer_request("m", {"x": np.asarray(digits()[0][:1])})
    for _ in range(2):  # a miss, then a hit: the labelled histograms get their samples
        await c.v2.ModelInfer(request)
    exported = {name for name, _ in await scrape(app, http)}
    plotted = {name for expr in _exprs() for name in _METRIC.findall(expr)}
    assert plotted
    assert plotted <= exported, sorted(plotted - exported)
