"""The JSON records the mesh keeps in the KV store, with upstream's field names.

``registry/<modelId>`` holds a ModelRecord and ``vmodels/<id>`` a VModelRecord
(UPSTREAM.md §2.1). Times are ms since the epoch. Pure data: no I/O here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class ModelRecord:
    type: str
    path: str = ""
    key: str = ""
    # instance id -> when it started loading this model (a copy, loading or loaded)
    instance_ids: dict[str, int] = field(default_factory=dict)
    # instance id -> when its copy finished loading (our addition: upstream infers it)
    loaded_in: dict[str, int] = field(default_factory=dict)
    # instance id -> when a load of this model failed there, and why
    failed_in: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    # instance id -> why placement put a copy there (our addition, for `status`)
    placed: dict[str, str] = field(default_factory=dict)
    # delete the model once no vmodel refers to it (references are counted from the
    # vmodels themselves, not stored, so they can't drift)
    auto_delete: bool = False
    last_used: int = 0
    # copies to keep loaded however little the model is used (0: none), and at most (0: no cap)
    min_copies: int = 0
    max_copies: int = 0

    def same_info(self, model_type: str, path: str, key: str) -> bool:
        return (self.type, self.path, self.key) == (model_type, path, key)

    def with_copy_loading(self, instance_id: str, now: int, why: str = "") -> ModelRecord:
        return replace(
            self,
            instance_ids={**self.instance_ids, instance_id: now},
            placed={**_without(self.placed, instance_id), **({instance_id: why} if why else {})},
            loaded_in=_without(self.loaded_in, instance_id),
            failed_in=_without(self.failed_in, instance_id),
            failures=_without(self.failures, instance_id),
        )

    def with_copy_loaded(self, instance_id: str, now: int) -> ModelRecord:
        return replace(
            self,
            instance_ids={
                **self.instance_ids,
                instance_id: self.instance_ids.get(instance_id, now),
            },
            loaded_in={**self.loaded_in, instance_id: now},
        )

    def with_copy_failed(self, instance_id: str, now: int, message: str) -> ModelRecord:
        return replace(
            self,
            instance_ids=_without(self.instance_ids, instance_id),
            loaded_in=_without(self.loaded_in, instance_id),
            failed_in={**self.failed_in, instance_id: now},
            failures={**self.failures, instance_id: message},
        )

    def without_copy(self, instance_id: str) -> ModelRecord:
        return replace(
            self,
            instance_ids=_without(self.instance_ids, instance_id),
            loaded_in=_without(self.loaded_in, instance_id),
            placed=_without(self.placed, instance_id),
        )

    def recent_failures(self, now: int, expiry_ms: int) -> dict[str, str]:
        """instance id -> message of the failed loads that have not expired."""
        return {
            i: self.failures.get(i, "load failed")
            for i, when in self.failed_in.items()
            if now - when < expiry_ms
        }

    def without_failures(self) -> ModelRecord:
        return replace(self, failed_in={}, failures={}) if self.failed_in else self

    def without_failures_of(self, instances: Iterable[str]) -> ModelRecord:
        gone = set(instances) & set(self.failed_in)
        if not gone:
            return self
        return replace(
            self,
            failed_in={i: t for i, t in self.failed_in.items() if i not in gone},
            failures={i: m for i, m in self.failures.items() if i not in gone},
        )

    def used_at(self, when: int) -> ModelRecord:
        return replace(self, last_used=when) if when > self.last_used else self

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"type": self.type, "encKey": self.key, "mPath": self.path}
        for name, value in (
            ("instanceIds", self.instance_ids),
            ("loadedIn", self.loaded_in),
            ("failedIn", self.failed_in),
            ("fails", {i: {"msg": m} for i, m in self.failures.items()}),
            ("placed", self.placed),
        ):
            if value:
                doc[name] = value
        if self.auto_delete:
            doc["autoDel"] = True
        if self.last_used:
            doc["lu"] = self.last_used
        if self.min_copies:
            doc["minCopies"] = self.min_copies
        if self.max_copies:
            doc["maxCopies"] = self.max_copies
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ModelRecord:
        doc = json.loads(data)
        return cls(
            type=doc["type"],
            path=doc.get("mPath", ""),
            key=doc.get("encKey", ""),
            instance_ids=dict(doc.get("instanceIds", {})),
            loaded_in=dict(doc.get("loadedIn", {})),
            failed_in=dict(doc.get("failedIn", {})),
            failures={i: f.get("msg", "") for i, f in doc.get("fails", {}).items()},
            placed=dict(doc.get("placed", {})),
            auto_delete=bool(doc.get("autoDel", False)),
            last_used=int(doc.get("lu", 0)),
            min_copies=int(doc.get("minCopies", 0)),
            max_copies=int(doc.get("maxCopies", 0)),
        )


@dataclass(frozen=True)
class VModelRecord:
    active_model: str
    target_model: str
    owner: str = ""
    # the target failed to load; the transition waits for a retry
    failed: bool = False

    @property
    def transitioning(self) -> bool:
        return self.active_model != self.target_model

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"amid": self.active_model, "tmid": self.target_model}
        if self.owner:
            doc["o"] = self.owner
        if self.failed:
            doc["failed"] = True
        return json.dumps(doc, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> VModelRecord:
        doc = json.loads(data)
        return cls(
            active_model=doc["amid"],
            target_model=doc["tmid"],
            owner=doc.get("o", ""),
            failed=bool(doc.get("failed", False)),
        )


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    if key not in mapping:
        return mapping
    return {k: v for k, v in mapping.items() if k != key}
