"""The plan: desired (the resource) against actual (the mesh's vmodel) -> steps."""

from __future__ import annotations

import pytest

from modelmesh.controller.reconcile import (
    AddFinalizer,
    DeleteVModel,
    Hold,
    Remove,
    RemoveFinalizer,
    Serve,
    SetVModel,
    Step,
    Wanted,
    plan,
)
from modelmesh.controller.sources import ModelSource
from modelmesh.controller.status import Failure
from modelmesh.protos import model_mesh_pb2 as pb

MS = pb.ModelStatusInfo.ModelStatus
VS = pb.VModelStatusInfo.VModelStatus

SOURCE = ModelSource("isvc", "ns", "m", "sklearn", path="sklearn")
CURRENT = SOURCE.model_id
OLD = "m__isvc-0000000000"


def _vmodel(
    status: int = VS.DEFINED,
    active: str = CURRENT,
    target: str = CURRENT,
    active_status: int = MS.LOADED,
    target_status: int = MS.NOT_FOUND,
) -> pb.VModelStatusInfo:
    info = pb.VModelStatusInfo(
        status=status, activeModelId=active, targetModelId=target, owner="isvc"
    )
    info.activeModelStatus.status = active_status
    if target != active:
        info.targetModelStatus.status = target_status
    return info


MISSING = pb.VModelStatusInfo()
SET = SetVModel(SOURCE)

CASES: list[tuple[str, Wanted, pb.VModelStatusInfo, bool, list[Step]]] = [
    ("new resource", Serve(SOURCE), MISSING, False, [AddFinalizer(), SET]),
    ("new, finalizer already on", Serve(SOURCE), MISSING, True, [SET]),
    ("up to date and loaded", Serve(SOURCE), _vmodel(), True, []),
    (
        "up to date, standby (evicted)",
        Serve(SOURCE),
        _vmodel(active_status=MS.NOT_LOADED),
        True,
        [],
    ),
    ("up to date, loading", Serve(SOURCE), _vmodel(active_status=MS.LOADING), True, []),
    ("spec changed: roll over", Serve(SOURCE), _vmodel(active=OLD, target=OLD), True, [SET]),
    (
        "changed again mid-transition",
        Serve(SOURCE),
        _vmodel(
            VS.TRANSITIONING, active=OLD, target="m__isvc-1111111111", target_status=MS.LOADING
        ),
        True,
        [SET],
    ),
    (
        "transition underway to the current spec",
        Serve(SOURCE),
        _vmodel(VS.TRANSITIONING, active=OLD, target=CURRENT, target_status=MS.LOADING),
        True,
        [],
    ),
    (
        "target failed: retry",
        Serve(SOURCE),
        _vmodel(VS.TRANSITION_FAILED, active=OLD, target=CURRENT, target_status=MS.LOADING_FAILED),
        True,
        [SET],
    ),
    (
        "only model failed: retry",
        Serve(SOURCE),
        _vmodel(active_status=MS.LOADING_FAILED),
        True,
        [SET],
    ),
    (
        "invalid spec keeps what serves",
        Hold(Failure("InvalidPredictorSpec", "bad")),
        _vmodel(),
        True,
        [],
    ),
    (
        "no runtime, nothing registered",
        Hold(Failure("NoSupportingRuntime", "none")),
        MISSING,
        False,
        [],
    ),
    (
        "deleted: unregister then release",
        Remove("m", "isvc"),
        _vmodel(),
        True,
        [DeleteVModel("m", "isvc"), RemoveFinalizer()],
    ),
    ("deleted, never registered", Remove("m", "isvc"), MISSING, True, [RemoveFinalizer()]),
    (
        "gone without our finalizer",
        Remove("m", "isvc"),
        _vmodel(),
        False,
        [DeleteVModel("m", "isvc")],
    ),
    ("gone and unregistered", Remove("m", "isvc"), MISSING, False, []),
]


@pytest.mark.parametrize(
    ("case", "wanted", "actual", "has_finalizer", "steps"), CASES, ids=[c[0] for c in CASES]
)
def test_plan(
    case: str, wanted: Wanted, actual: pb.VModelStatusInfo, has_finalizer: bool, steps: list[Step]
) -> None:
    assert plan(wanted, actual, has_finalizer=has_finalizer) == steps
