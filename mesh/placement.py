"""Where a model may go and where it should go: type constraints and the placement order.

Pure functions over plain values (no I/O, no awaits), so the rules read and test as
tables. A model type is a format name (``sklearn``), served by instances labelled
``mt:sklearn``, or upstream's label expression (``mt:onnx:1|pv:grpc-v2``, ``rt:name``):
every ``|``-separated label must be present. An instance with no ``mt:``/``rt:`` labels
takes any type.

The order follows upstream's (UPSTREAM.md §2.3): instances shutting down last; not full
before full; among full ones the oldest LRU first (its models are the least valuable to
evict); among the rest fewer models, then more free space, then the older LRU, then fewer
loads in flight. An instance that failed this model recently, or that the request already
tried, is never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .instances import InstanceRecord

MIB = 1024 * 1024


def labels_for_formats(formats: Iterable[str]) -> frozenset[str]:
    """The labels an instance gets for the model formats its runtime serves."""
    return frozenset(f"mt:{name}" for name in formats)


def required_labels(model_type: str) -> frozenset[str]:
    if ":" in model_type:
        return frozenset(part.strip() for part in model_type.split("|") if part.strip())
    return frozenset({f"mt:{model_type}"})


def eligible(model_type: str, labels: Iterable[str]) -> bool:
    """May an instance with these labels load a model of this type?"""
    labels = frozenset(labels)
    if not any(label.startswith(("mt:", "rt:")) for label in labels):
        return True
    return required_labels(model_type) <= labels


def is_full(record: InstanceRecord, default_model_size: int) -> bool:
    """Upstream: full when free space is below what a typical load needs."""
    needed = max(default_model_size, min(default_model_size * 2, record.capacity // 20))
    return record.free < needed


@dataclass(frozen=True)
class Verdict:
    instance_id: str
    chosen: bool
    # why it was chosen, ranked where it was, or left out
    reason: str


def _rank_key(instance_id: str, record: InstanceRecord, full: bool) -> tuple[object, ...]:
    if full:
        return (1, record.lru_time, 0, 0, 0, record.loads_in_progress, instance_id)
    return (
        0,
        0,
        record.model_count,
        -record.free,
        record.lru_time,
        record.loads_in_progress,
        instance_id,
    )


def _describe(record: InstanceRecord, full: bool, now: int) -> str:
    age_s = max(0, now - record.lru_time) // 1000 if record.lru_time else 0
    room = "full" if full else f"{record.free // MIB} MiB free"
    return (
        f"{room}, {record.model_count} models, LRU age {age_s}s, {record.loads_in_progress} loading"
    )


def place(
    instances: Mapping[str, InstanceRecord],
    *,
    model_type: str,
    exclude: Iterable[str] = (),
    failed: Iterable[str] = (),
    holding: Iterable[str] = (),
    default_model_size: int,
    now: int,
) -> list[Verdict]:
    """Every instance with its verdict; the first, if ``chosen``, is where to load."""
    excluded, failed_set, holders = set(exclude), set(failed), set(holding)
    verdicts: list[Verdict] = []
    ranked: list[tuple[tuple[object, ...], str, bool]] = []
    for instance_id, record in instances.items():
        if record.shutting_down:
            verdicts.append(Verdict(instance_id, False, "shutting down"))
        elif not eligible(model_type, record.labels):
            need = ", ".join(sorted(required_labels(model_type)))
            verdicts.append(Verdict(instance_id, False, f"does not serve type (needs {need})"))
        elif instance_id in holders:
            verdicts.append(Verdict(instance_id, False, "holds a copy already"))
        elif instance_id in failed_set:
            verdicts.append(Verdict(instance_id, False, "failed to load this model recently"))
        elif instance_id in excluded:
            verdicts.append(Verdict(instance_id, False, "already tried for this request"))
        else:
            full = is_full(record, default_model_size)
            ranked.append((_rank_key(instance_id, record, full), instance_id, full))
    ranked.sort()
    ordered = [
        Verdict(
            instance_id,
            position == 0,
            ("chosen: " if position == 0 else f"ranked {position + 1}: ")
            + _describe(instances[instance_id], full, now),
        )
        for position, (_, instance_id, full) in enumerate(ranked)
    ]
    return ordered + verdicts


def choose(verdicts: list[Verdict]) -> Verdict | None:
    return verdicts[0] if verdicts and verdicts[0].chosen else None
