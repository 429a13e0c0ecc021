"""Runtime selection: named runtimes, auto-select by format, version, priority, scope."""

from __future__ import annotations

from typing import Any

import pytest

from modelmesh.controller.runtimes import (
    NO_SUPPORTING_RUNTIME,
    RUNTIME_NOT_RECOGNIZED,
    NoRuntime,
    Selected,
    ServingRuntime,
    SupportedFormat,
    parse_runtime,
    select_runtime,
)
from modelmesh.controller.sources import ModelSource


def _rt(
    name: str,
    *formats: SupportedFormat,
    cluster: bool = False,
    multi: bool = True,
    disabled: bool = False,
    created: str = "",
    protocols: tuple[str, ...] = (),
) -> ServingRuntime:
    return ServingRuntime(name, cluster, formats, multi, disabled, protocols, created)


def _fmt(
    name: str, version: str | None = None, *, auto: bool = True, priority: int | None = None
) -> SupportedFormat:
    return SupportedFormat(name, version, auto, priority)


def _model(fmt: str = "sklearn", version: str | None = None, **kw: Any) -> ModelSource:
    return ModelSource("isvc", "ns", "m", fmt, version, **kw)


def _chosen(result: Selected | NoRuntime) -> str:
    assert isinstance(result, Selected), result
    return result.runtime.name


SK = _fmt("sklearn", "0")

CASES = [
    # (model, namespace runtimes, cluster runtimes, expected name or failure reason)
    (_model(), [_rt("a", SK)], [], "a"),
    (_model(), [], [_rt("c", SK, cluster=True)], "c"),
    (_model(), [_rt("ns", SK)], [_rt("c", _fmt("sklearn", priority=9), cluster=True)], "ns"),
    (
        _model(),
        [_rt("low", _fmt("sklearn", priority=1)), _rt("high", _fmt("sklearn", priority=2))],
        [],
        "high",
    ),
    (_model(), [_rt("none", SK), _rt("some", _fmt("sklearn", priority=1))], [], "some"),
    (
        _model(),
        [
            _rt("old", SK, created="2024-01-01T00:00:00Z"),
            _rt("new", SK, created="2025-01-01T00:00:00Z"),
        ],
        [],
        "new",
    ),
    (_model(), [_rt("b", SK), _rt("a", SK)], [], "a"),
    (_model(), [_rt("manual", _fmt("sklearn", auto=False))], [], NO_SUPPORTING_RUNTIME),
    (_model(), [_rt("off", SK, disabled=True)], [], NO_SUPPORTING_RUNTIME),
    (_model(), [_rt("single", SK, multi=False)], [], NO_SUPPORTING_RUNTIME),
    (_model("sklearn", "0"), [_rt("v0", SK)], [], "v0"),
    (_model("sklearn", "1"), [_rt("v0", SK)], [], NO_SUPPORTING_RUNTIME),
    (_model("sklearn", "1"), [_rt("any", _fmt("sklearn"))], [], NO_SUPPORTING_RUNTIME),
    (_model("tensorflow"), [_rt("a", SK)], [_rt("c", SK, cluster=True)], NO_SUPPORTING_RUNTIME),
    (
        _model(protocol_version="grpc-v2"),
        [_rt("v1", SK, protocols=("v1",)), _rt("v2", SK, protocols=("grpc-v2",))],
        [],
        "v2",
    ),
    # named: namespace first, then cluster; autoSelect does not matter
    (
        _model(runtime="r"),
        [_rt("r", _fmt("sklearn", auto=False))],
        [_rt("r", SK, cluster=True)],
        "r",
    ),
    (_model(runtime="r"), [], [_rt("r", SK, cluster=True)], "r"),
    (_model(runtime="nope"), [_rt("r", SK)], [], RUNTIME_NOT_RECOGNIZED),
    (_model(runtime="r"), [_rt("r", SK, disabled=True)], [], RUNTIME_NOT_RECOGNIZED),
    (_model(runtime="r"), [_rt("r", SK, multi=False)], [], RUNTIME_NOT_RECOGNIZED),
    (_model("onnx", runtime="r"), [_rt("r", SK)], [], NO_SUPPORTING_RUNTIME),
]


@pytest.mark.parametrize(("model", "namespaced", "cluster", "expected"), CASES)
def test_selection(
    model: ModelSource,
    namespaced: list[ServingRuntime],
    cluster: list[ServingRuntime],
    expected: str,
) -> None:
    result = select_runtime(model, namespaced, cluster)
    if expected in (NO_SUPPORTING_RUNTIME, RUNTIME_NOT_RECOGNIZED):
        assert isinstance(result, NoRuntime) and result.reason == expected
        assert result.message
    else:
        assert _chosen(result) == expected


def test_named_runtime_in_namespace_wins_over_the_cluster_one() -> None:
    result = select_runtime(_model(runtime="r"), [_rt("r", SK)], [_rt("r", SK, cluster=True)])
    assert isinstance(result, Selected) and not result.runtime.cluster


def test_parse_runtime_reads_the_crd_fields_and_ignores_junk() -> None:
    runtime = parse_runtime(
        {
            "metadata": {"name": "mlserver-1.x", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {
                "multiModel": True,
                "protocolVersions": ["grpc-v2"],
                "supportedModelFormats": [
                    {"name": "sklearn", "version": "0", "autoSelect": True, "priority": 2},
                    {"name": "xgboost", "autoSelect": "yes"},
                    {"version": "1"},
                    "junk",
                ],
            },
        },
        cluster=True,
    )
    assert runtime == ServingRuntime(
        "mlserver-1.x",
        True,
        (SupportedFormat("sklearn", "0", True, 2), SupportedFormat("xgboost")),
        True,
        False,
        ("grpc-v2",),
        "2025-01-01T00:00:00Z",
    )
    assert runtime.kind == "ClusterServingRuntime"
    assert parse_runtime({}, cluster=False) == ServingRuntime("")
