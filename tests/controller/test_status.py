"""Mesh status -> resource status: states, transitions, failures, copies, URLs, patches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelmesh.controller import status as st
from modelmesh.protos import model_mesh_pb2 as pb

MS = pb.ModelStatusInfo.ModelStatus
VS = pb.VModelStatusInfo.VModelStatus
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ENDPOINTS = st.Endpoints(
    grpc="grpc://modelmesh-serving.ns:8033", rest="http://modelmesh-serving.ns:8008"
)


def _model(
    status: int, *copies: tuple[str, int, int], errors: tuple[str, ...] = ()
) -> pb.ModelStatusInfo:
    info = pb.ModelStatusInfo(status=status, errors=list(errors))
    for location, copy_status, time in copies:
        info.modelCopyInfos.add(location=location, copyStatus=copy_status, time=time)
    return info


def _vmodel(
    status: int, active: pb.ModelStatusInfo, target: pb.ModelStatusInfo | None = None
) -> pb.VModelStatusInfo:
    info = pb.VModelStatusInfo(
        status=status, activeModelId="a", targetModelId="b" if target else "a"
    )
    info.activeModelStatus.CopyFrom(active)
    if target is not None:
        info.targetModelStatus.CopyFrom(target)
    return info


LOADED = _model(MS.LOADED, ("pod-1", MS.LOADED, 1), ("pod-2", MS.LOADED, 2))
FAILED = _model(
    MS.LOADING_FAILED,
    ("pod-1", MS.LOADING_FAILED, 1_700_000_000_123),
    errors=("pod-1: bad pickle",),
)

CASES = [
    # (vmodel, transition, active, target, failure reason, total, failed copies, available)
    (pb.VModelStatusInfo(), "UpToDate", "Pending", "", None, 0, 0, False),
    (_vmodel(VS.DEFINED, LOADED), "UpToDate", "Loaded", "", None, 2, 0, True),
    (_vmodel(VS.DEFINED, _model(MS.NOT_LOADED)), "UpToDate", "Standby", "", None, 0, 0, True),
    (
        _vmodel(VS.DEFINED, _model(MS.LOADING, ("pod-1", MS.LOADING, 1))),
        "UpToDate",
        "Loading",
        "",
        None,
        1,
        0,
        True,
    ),
    (_vmodel(VS.DEFINED, FAILED), "UpToDate", "FailedToLoad", "", "ModelLoadFailed", 0, 1, False),
    (
        _vmodel(VS.TRANSITIONING, LOADED, _model(MS.LOADING)),
        "InProgress",
        "Loaded",
        "Loading",
        None,
        2,
        0,
        True,
    ),
    (
        _vmodel(VS.TRANSITION_FAILED, LOADED, FAILED),
        "BlockedByFailedLoad",
        "Loaded",
        "FailedToLoad",
        "ModelLoadFailed",
        2,
        1,
        True,
    ),
]


@pytest.mark.parametrize(
    ("info", "transition", "active", "target", "reason", "total", "failed", "available"), CASES
)
def test_observe(
    info: pb.VModelStatusInfo,
    transition: str,
    active: str,
    target: str,
    reason: str | None,
    total: int,
    failed: int,
    available: bool,
) -> None:
    state = st.observe(info, now=NOW)
    assert (state.transition, state.active, state.target) == (transition, active, target)
    assert (state.failure.reason if state.failure else None) == reason
    assert (state.total_copies, state.failed_copies, state.available) == (total, failed, available)


def test_load_failure_names_the_copy_and_time_without_the_instance_prefix() -> None:
    failure = st.observe(_vmodel(VS.DEFINED, FAILED), now=NOW).failure
    assert failure == st.Failure(
        "ModelLoadFailed", "bad pickle", "a", "pod-1", "2023-11-14T22:13:20Z"
    )


def test_no_eligible_instance_is_loading_while_waiting_for_a_runtime() -> None:
    message = (
        "vm-0: There are no running instances that meet the label requirements of type mt:x: [mt:x]"
    )
    state = st.observe(_vmodel(VS.DEFINED, _model(MS.LOADING_FAILED, errors=(message,))), now=NOW)
    assert (state.active, state.failure and state.failure.reason) == ("Loading", "RuntimeUnhealthy")
    assert state.waiting_for_runtime and state.settling and not state.available


def test_controller_failures() -> None:
    invalid = st.observe(
        _vmodel(VS.DEFINED, LOADED), failure=st.Failure("InvalidPredictorSpec", "x"), now=NOW
    )
    assert (invalid.transition, invalid.active, invalid.available) == (
        "InvalidSpec",
        "Loaded",
        True,
    )
    fresh = st.observe(
        pb.VModelStatusInfo(), failure=st.Failure("NoSupportingRuntime", "none"), now=NOW
    )
    assert (fresh.transition, fresh.active, fresh.available) == ("UpToDate", "FailedToLoad", False)
    serving = st.observe(
        _vmodel(VS.DEFINED, LOADED), failure=st.Failure("NoSupportingRuntime", "none"), now=NOW
    )
    assert (serving.transition, serving.active, serving.target) == (
        "BlockedByFailedLoad",
        "Loaded",
        "FailedToLoad",
    )
    down = st.observe(
        pb.VModelStatusInfo(), failure=st.Failure("RuntimeUnhealthy", "down"), now=NOW
    )
    assert down.waiting_for_runtime and down.settling and not down.available


def test_an_unchanged_failure_keeps_its_time() -> None:
    failure = st.Failure("NoSupportingRuntime", "none", "m")
    first = st.observe(pb.VModelStatusInfo(), failure=failure, now=NOW).failure
    assert first is not None and first.time == "2026-01-02T03:04:05Z"
    later = datetime(2026, 1, 2, 4, 0, 0, tzinfo=UTC)
    again = st.observe(pb.VModelStatusInfo(), failure=failure, previous=first, now=later).failure
    assert again == first
    other = st.observe(
        pb.VModelStatusInfo(),
        failure=st.Failure("NoSupportingRuntime", "other"),
        previous=first,
        now=later,
    )
    assert other.failure is not None and other.failure.time == "2026-01-02T04:00:00Z"


def test_inference_service_status_as_upstream_writes_it() -> None:
    state = st.observe(_vmodel(VS.DEFINED, LOADED), now=NOW)
    status = st.inference_service_status(state, ENDPOINTS, {})
    assert status["modelStatus"] == {
        "transitionStatus": "UpToDate",
        "states": {"activeModelState": "Loaded", "targetModelState": ""},
        "copies": {"failedCopies": 0, "totalCopies": 2},
        "lastFailureInfo": None,
    }
    assert status["url"] == "grpc://modelmesh-serving.ns:8033"
    assert status["components"] == {
        "predictor": {
            "url": "grpc://modelmesh-serving.ns:8033",
            "grpcUrl": "grpc://modelmesh-serving.ns:8033",
            "restUrl": "http://modelmesh-serving.ns:8008",
        }
    }
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("PredictorReady", "True"),
        ("Ready", "True"),
    ]


def test_unavailable_status_drops_urls_and_explains_conditions() -> None:
    state = st.observe(_vmodel(VS.DEFINED, FAILED), now=NOW)
    status = st.inference_service_status(state, ENDPOINTS, {})
    assert status["url"] is None and status["components"] is None
    ready = status["conditions"][1]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "ModelLoadFailed",
        "bad pickle",
    )
    assert status["modelStatus"]["lastFailureInfo"]["modelRevisionName"] == "a"


def test_conditions_keep_their_transition_time_until_they_flip() -> None:
    previous = {
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "2020-01-01T00:00:00Z"}
        ]
    }
    loaded = st.observe(_vmodel(VS.DEFINED, LOADED), now=NOW)
    kept = st.inference_service_status(loaded, ENDPOINTS, previous)["conditions"][1]
    assert kept["lastTransitionTime"] == "2020-01-01T00:00:00Z"
    failed = st.observe(_vmodel(VS.DEFINED, FAILED), now=NOW)
    flipped = st.inference_service_status(failed, ENDPOINTS, previous)["conditions"][1]
    assert flipped["lastTransitionTime"] != "2020-01-01T00:00:00Z"


def test_predictor_status_fields() -> None:
    state = st.observe(_vmodel(VS.DEFINED, FAILED), now=NOW)
    assert st.predictor_status(state, ENDPOINTS) == {
        "available": False,
        "transitionStatus": "UpToDate",
        "activeModelState": "FailedToLoad",
        "targetModelState": "",
        "lastFailureInfo": {
            "reason": "ModelLoadFailed",
            "message": "bad pickle",
            "modelId": "a",
            "location": "pod-1",
            "time": "2023-11-14T22:13:20Z",
        },
        "grpcEndpoint": "grpc://modelmesh-serving.ns:8033",
        "httpEndpoint": "http://modelmesh-serving.ns:8008",
        "totalCopies": 0,
        "failedCopies": 1,
    }


def test_status_patch_only_when_changed_and_removes_with_none() -> None:
    current = {
        "url": "u",
        "modelStatus": {"states": {"activeModelState": "Loaded"}, "copies": {"totalCopies": 1}},
        "other": 1,
    }
    same = {"url": "u", "modelStatus": {"states": {"activeModelState": "Loaded"}}}
    assert st.status_patch(same, current) is None
    wanted = {
        "url": None,
        "modelStatus": {"states": {"activeModelState": "Loading"}, "lastFailureInfo": None},
    }
    assert st.status_patch(wanted, current) == {
        "url": None,
        "modelStatus": {"states": {"activeModelState": "Loading"}},
    }


def test_previous_failure_reads_either_kind() -> None:
    isvc = {
        "modelStatus": {
            "lastFailureInfo": {
                "reason": "R",
                "message": "m",
                "modelRevisionName": "id",
                "time": "t",
            }
        }
    }
    predictor = {"lastFailureInfo": {"reason": "R", "message": "m", "modelId": "id", "time": "t"}}
    expected = st.Failure("R", "m", "id", "", "t")
    assert st.previous_failure(isvc) == expected == st.previous_failure(predictor)
    assert st.previous_failure({}) is None
