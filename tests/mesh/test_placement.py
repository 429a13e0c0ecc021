"""Type constraints: which instance labels admit which model types."""

from __future__ import annotations

from dataclasses import replace

import pytest

from modelmesh.mesh.instances import InstanceRecord
from modelmesh.mesh.placement import choose, eligible, labels_for_formats, place

SKLEARN_XGB = labels_for_formats(["sklearn", "xgboost"])


@pytest.mark.parametrize(
    ("model_type", "labels", "expected"),
    [
        ("sklearn", SKLEARN_XGB, True),
        ("onnx", SKLEARN_XGB, False),
        ("mt:xgboost", SKLEARN_XGB, True),
        ("mt:sklearn|pv:grpc-v2", SKLEARN_XGB, False),
        ("mt:sklearn|pv:grpc-v2", SKLEARN_XGB | {"pv:grpc-v2"}, True),
        ("rt:custom", frozenset({"rt:custom"}), True),
        ("anything", frozenset(), True),  # an unlabelled instance takes any type
        ("anything", frozenset({"zone:a"}), True),
    ],
)
def test_eligible(model_type: str, labels: frozenset[str], expected: bool) -> None:
    assert eligible(model_type, labels) is expected


MIB = 1024 * 1024


def _inst(free_mib: int, models: int, lru: int, **kw: object) -> InstanceRecord:
    return InstanceRecord(
        address="x",
        capacity=100 * MIB,
        used=(100 - free_mib) * MIB,
        model_count=models,
        lru_time=lru,
        labels=tuple(SKLEARN_XGB),
        **kw,  # type: ignore[arg-type]
    )


def _order(instances: dict[str, InstanceRecord], **kw: object) -> list[str]:
    verdicts = place(instances, model_type="sklearn", default_model_size=MIB, now=10**6, **kw)  # type: ignore[arg-type]
    return [v.instance_id for v in verdicts]


@pytest.mark.parametrize(
    ("instances", "expected"),
    [
        # not full before full, whatever else
        ({"full": _inst(0, 1, 1), "roomy": _inst(50, 9, 9)}, ["roomy", "full"]),
        # among the not full: fewer models first, then more free space
        ({"a": _inst(50, 3, 1), "b": _inst(10, 2, 1)}, ["b", "a"]),
        ({"a": _inst(10, 2, 1), "b": _inst(50, 2, 1)}, ["b", "a"]),
        # among the full: the oldest LRU first (its models matter least)
        ({"new": _inst(0, 5, 900), "old": _inst(0, 5, 100)}, ["old", "new"]),
        # shutting down: never chosen, listed after the rest
        ({"leaving": _inst(90, 0, 1, shutting_down=True), "b": _inst(1, 9, 1)}, ["b", "leaving"]),
    ],
)
def test_placement_order(instances: dict[str, InstanceRecord], expected: list[str]) -> None:
    assert _order(instances) == expected


def test_failed_excluded_and_ineligible_instances_are_never_chosen() -> None:
    instances = {
        "failed": _inst(90, 0, 1),
        "tried": _inst(80, 0, 1),
        "onnx-only": replace(_inst(70, 0, 1), labels=("mt:onnx",)),
        "ok": _inst(1, 9, 1),
    }
    verdicts = place(
        instances,
        model_type="sklearn",
        failed=["failed"],
        exclude=["tried"],
        default_model_size=MIB,
        now=0,
    )
    chosen = choose(verdicts)
    assert chosen is not None and chosen.instance_id == "ok" and chosen.reason.startswith("chosen")
    reasons = {v.instance_id: v.reason for v in verdicts}
    assert "failed to load" in reasons["failed"] and "already tried" in reasons["tried"]
    assert "mt:sklearn" in reasons["onnx-only"]
    assert (
        choose(
            place(
                {"f": instances["failed"]},
                model_type="sklearn",
                failed=["f"],
                default_model_size=MIB,
                now=0,
            )
        )
        is None
    )
