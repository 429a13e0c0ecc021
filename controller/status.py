"""The mesh's view of a vmodel, as the status of an InferenceService or Predictor.

Pure functions. ``observe`` turns a ``VModelStatusInfo`` (plus a failure the controller
found itself: bad spec, no runtime, mesh unreachable) into a ``PredictorState`` the way
upstream's ``updatePredictorStatusFromVModel`` does; ``inference_service_status`` and
``predictor_status`` render it as each kind's ``status`` block, and ``status_patch``
returns the merge patch only when something changed, so an unchanged object is never
written. ``handling.py`` calls these after ``apply.py`` has talked to the mesh.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ..protos import model_mesh_pb2 as pb

ModelStatus = pb.ModelStatusInfo.ModelStatus
VModelStatus = pb.VModelStatusInfo.VModelStatus

# transitionStatus values
UP_TO_DATE = "UpToDate"
IN_PROGRESS = "InProgress"
BLOCKED = "BlockedByFailedLoad"
INVALID_SPEC = "InvalidSpec"
# model states
PENDING, STANDBY, LOADING, LOADED, FAILED = (
    "Pending",
    "Standby",
    "Loading",
    "Loaded",
    "FailedToLoad",
)
# failure reasons
MODEL_LOAD_FAILED = "ModelLoadFailed"
RUNTIME_UNHEALTHY = "RuntimeUnhealthy"
INVALID_PREDICTOR_SPEC = "InvalidPredictorSpec"

_STATES = {
    ModelStatus.NOT_LOADED: STANDBY,
    ModelStatus.LOADING: LOADING,
    ModelStatus.LOADED: LOADED,
    ModelStatus.LOADING_FAILED: FAILED,
}
_TRANSITIONS = {
    VModelStatus.DEFINED: UP_TO_DATE,
    VModelStatus.TRANSITIONING: IN_PROGRESS,
    VModelStatus.TRANSITION_FAILED: BLOCKED,
}
# the mesh's message when no instance may hold a model of its type (upstream's wording)
_NO_HOME = "There are no running instances that meet the label requirements of type "


@dataclass(frozen=True)
class Failure:
    reason: str
    message: str
    model_id: str = ""
    location: str = ""
    # RFC 3339; empty: "now" when rendered (``observe`` keeps an unchanged failure's time)
    time: str = ""


@dataclass(frozen=True)
class PredictorState:
    transition: str
    active: str
    target: str = ""
    failure: Failure | None = None
    total_copies: int = 0
    failed_copies: int = 0

    @property
    def waiting_for_runtime(self) -> bool:
        return self.failure is not None and self.failure.reason == RUNTIME_UNHEALTHY

    @property
    def available(self) -> bool:
        """Requests get answers: a model is registered and has not failed everywhere."""
        return self.active in (STANDBY, LOADING, LOADED) and not self.waiting_for_runtime

    @property
    def settling(self) -> bool:
        """Still changing by itself: the controller should look again soon."""
        return self.active == LOADING or self.transition == IN_PROGRESS or self.waiting_for_runtime


@dataclass(frozen=True)
class Endpoints:
    grpc: str
    rest: str = ""


def observe(
    info: pb.VModelStatusInfo,
    *,
    failure: Failure | None = None,
    previous: Failure | None = None,
    now: datetime | None = None,
) -> PredictorState:
    """The state to report for a vmodel, given a failure the controller found itself.

    An invalid spec shows as transition InvalidSpec. A model no runtime serves shows as
    upstream shows it: FailedToLoad, as the active model when nothing is registered, else
    as the target while the registered model keeps serving (BlockedByFailedLoad). The
    mesh being unreachable shows as RuntimeUnhealthy (waiting for the runtime)."""
    if info.status == VModelStatus.NOT_FOUND:
        state = PredictorState(UP_TO_DATE, PENDING)
    else:
        state = _from_vmodel(info)
    if failure is None:
        pass
    elif failure.reason == INVALID_PREDICTOR_SPEC:
        state = replace(state, transition=INVALID_SPEC, failure=failure)
    elif failure.reason == RUNTIME_UNHEALTHY:
        state = replace(state, active=state.active if state.active != PENDING else LOADING)
        state = replace(state, failure=failure)
    elif info.status == VModelStatus.NOT_FOUND:
        state = replace(state, active=FAILED, failure=failure)
    else:
        state = replace(state, transition=BLOCKED, target=FAILED, failure=failure)
    return replace(state, failure=_stamped(state.failure, previous, now))


def _from_vmodel(info: pb.VModelStatusInfo) -> PredictorState:
    active, active_failure = _decode(info.activeModelStatus, info.activeModelId)
    transition = _TRANSITIONS.get(info.status, UP_TO_DATE)
    if info.activeModelId == info.targetModelId or not info.targetModelId:
        target_info, target, target_failure = info.activeModelStatus, "", active_failure
    else:
        target_info = info.targetModelStatus
        target, target_failure = _decode(target_info, info.targetModelId)
    if transition == BLOCKED and target == LOADING:
        transition = IN_PROGRESS  # a load waiting for a runtime is not a failure yet
    failure = None
    if target_info.status != ModelStatus.LOADED:
        failure = target_failure
    counted = [info.activeModelStatus]
    if target:
        counted.append(info.targetModelStatus)
    return PredictorState(
        transition=transition,
        active=active,
        target=target,
        failure=failure,
        total_copies=sum(
            c.copyStatus in (ModelStatus.LOADED, ModelStatus.LOADING)
            for c in info.activeModelStatus.modelCopyInfos
        ),
        failed_copies=sum(
            c.copyStatus == ModelStatus.LOADING_FAILED for s in counted for c in s.modelCopyInfos
        ),
    )


def _decode(info: pb.ModelStatusInfo, model_id: str) -> tuple[str, Failure | None]:
    state = _STATES.get(info.status, PENDING)
    if not info.errors:
        return state, None
    message = info.errors[0]
    # the mesh prefixes a copy's error with its instance id; the location says it already
    _, sep, rest = message.partition(": ")
    text = rest if sep and not message.startswith(_NO_HOME) else message
    if state == FAILED and text.startswith(_NO_HOME):
        return LOADING, Failure(
            RUNTIME_UNHEALTHY, "Waiting for supporting runtime Pod to become available", model_id
        )
    # a recent failure shows even while a retry loads elsewhere (as upstream)
    failed = [c for c in info.modelCopyInfos if c.copyStatus == ModelStatus.LOADING_FAILED]
    location = failed[0].location if failed else ""
    when = _rfc3339_ms(failed[0].time) if failed and failed[0].time else ""
    return state, Failure(MODEL_LOAD_FAILED, text, model_id, location, when)


def _stamped(
    failure: Failure | None, previous: Failure | None, now: datetime | None
) -> Failure | None:
    """Give a failure its time: the same failure keeps the time it was first seen."""
    if failure is None or failure.time:
        return failure
    if previous is not None and replace(previous, time="") == failure and previous.time:
        return previous
    return replace(failure, time=_rfc3339(now or datetime.now(UTC)))


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc3339_ms(epoch_ms: int) -> str:
    return _rfc3339(datetime.fromtimestamp(epoch_ms / 1000, UTC))


# -- rendering ------------------------------------------------------------------------


def inference_service_status(
    state: PredictorState, endpoints: Endpoints, previous: Mapping[str, Any]
) -> dict[str, Any]:
    """``status`` of an InferenceService (v1beta1, as upstream's ISVC registry writes it).

    Keys this controller owns are always present; ``None`` removes one (merge patch)."""
    model_status: dict[str, Any] = {
        "transitionStatus": state.transition,
        "states": {"activeModelState": state.active, "targetModelState": state.target},
        "copies": {"failedCopies": state.failed_copies, "totalCopies": state.total_copies},
        "lastFailureInfo": _failure_info(state.failure, "modelRevisionName"),
    }
    ready = "True" if state.available else "False"
    conditions = _conditions(
        previous.get("conditions"), {"PredictorReady": ready, "Ready": ready}, state
    )
    status: dict[str, Any] = {"modelStatus": model_status, "conditions": conditions}
    if state.available:
        predictor = {"url": endpoints.grpc, "grpcUrl": endpoints.grpc}
        if endpoints.rest:
            predictor["restUrl"] = endpoints.rest
        status["url"] = endpoints.grpc
        status["components"] = {"predictor": predictor}
    else:
        status["url"] = None
        status["components"] = None
    return status


def predictor_status(state: PredictorState, endpoints: Endpoints) -> dict[str, Any]:
    """``status`` of a Predictor (v1alpha1)."""
    return {
        "available": state.available,
        "transitionStatus": state.transition,
        "activeModelState": state.active,
        "targetModelState": state.target,
        "lastFailureInfo": _failure_info(state.failure, "modelId"),
        "grpcEndpoint": endpoints.grpc,
        "httpEndpoint": endpoints.rest,
        "totalCopies": state.total_copies,
        "failedCopies": state.failed_copies,
    }


def previous_failure(status: Mapping[str, Any]) -> Failure | None:
    """The last failure an object's status shows (either kind), to keep its time."""
    info = (status.get("modelStatus") or {}).get("lastFailureInfo") or status.get("lastFailureInfo")
    if not isinstance(info, Mapping):
        return None
    return Failure(
        reason=str(info.get("reason") or ""),
        message=str(info.get("message") or ""),
        model_id=str(info.get("modelRevisionName") or info.get("modelId") or ""),
        location=str(info.get("location") or ""),
        time=str(info.get("time") or ""),
    )


def status_patch(wanted: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any] | None:
    """The merge patch taking ``current`` to ``wanted`` (its keys only), or None if equal."""
    patch: dict[str, Any] = {}
    for key, value in wanted.items():
        have = current.get(key)
        if value is None:
            if have is not None:
                patch[key] = None
        elif isinstance(value, Mapping) and isinstance(have, Mapping):
            inner = status_patch(value, have)
            if inner is not None:
                patch[key] = inner
        elif value != have:
            patch[key] = value
    return patch or None


def _failure_info(failure: Failure | None, id_field: str) -> dict[str, Any] | None:
    if failure is None:
        return None
    info = {"reason": failure.reason, "message": failure.message}
    for key, value in (
        (id_field, failure.model_id),
        ("location", failure.location),
        ("time", failure.time),
    ):
        if value:
            info[key] = value
    return info


def _conditions(
    previous: Any, wanted: Mapping[str, str], state: PredictorState
) -> list[dict[str, Any]]:
    """Knative-style conditions; a condition keeps its lastTransitionTime until it flips."""
    before = {c.get("type"): c for c in previous or () if isinstance(c, Mapping) and c.get("type")}
    now = _rfc3339(datetime.now(UTC))
    conditions = []
    for kind, value in wanted.items():
        old = before.get(kind) or {}
        condition: dict[str, Any] = {
            "type": kind,
            "status": value,
            "lastTransitionTime": old.get("lastTransitionTime", now)
            if old.get("status") == value
            else now,
        }
        if value != "True" and state.failure is not None:
            condition["reason"] = state.failure.reason
            condition["message"] = state.failure.message
        conditions.append(condition)
    return conditions
