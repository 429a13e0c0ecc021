"""How statuses and listings look to a person."""

from __future__ import annotations

from datetime import datetime

from modelmesh.mesh.cli import output
from modelmesh.protos import model_mesh_pb2 as mm

Status = mm.ModelStatusInfo


def test_table_aligns_columns() -> None:
    assert output.table(("ID", "STATUS"), [("a-long-id", "LOADED"), ("b", "-")]) == [
        "ID         STATUS",
        "a-long-id  LOADED",
        "b          -",
    ]


def test_sizes_and_times() -> None:
    assert output.format_bytes(0) == "-"
    assert output.format_bytes(512) == "512 B"
    assert output.format_bytes(3 * 1024 * 1024 // 2) == "1.5 MiB"
    assert output.format_time(0) == "-"
    ms = int(datetime(2025, 1, 2, 3, 4, 5).timestamp() * 1000)
    assert output.format_time(ms) == "2025-01-02 03:04:05"


def _loaded_in(*locations: str) -> mm.ModelStatusInfo:
    return Status(
        status=Status.LOADED,
        modelCopyInfos=[
            Status.ModelCopyInfo(location=loc, copyStatus=Status.LOADED) for loc in locations
        ],
    )


def test_model_status_lists_copies_and_errors() -> None:
    info = _loaded_in("inst-a")
    info.modelCopyInfos.add(location="inst-b", copyStatus=Status.LOADING_FAILED)
    info.errors.append("inst-b: out of memory")
    assert output.model_status_lines("m", info) == [
        "model m: LOADED",
        "  LOCATION  STATUS          SINCE",
        "  inst-a    LOADED          -",
        "  inst-b    LOADING_FAILED  -",
        "  error: inst-b: out of memory",
    ]


def test_vmodel_status_nests_active_and_target() -> None:
    info = mm.VModelStatusInfo(
        status=mm.VModelStatusInfo.TRANSITIONING,
        owner="ci",
        activeModelId="m1",
        activeModelStatus=_loaded_in("inst-a"),
        targetModelId="m2",
        targetModelStatus=Status(status=Status.LOADING),
    )
    assert output.vmodel_status_lines("v", info) == [
        "vmodel v: TRANSITIONING (owner ci)",
        "  active model m1: LOADED",
        "    LOCATION  STATUS  SINCE",
        "    inst-a    LOADED  -",
        "  target model m2: LOADING",
    ]
