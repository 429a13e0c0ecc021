"""Which ServingRuntime serves a model: the named one, else the best auto-selectable one.

Pure functions over parsed (Cluster)ServingRuntimes, following KServe's rules
(``ModelSpec.GetSupportingRuntimes``): a named runtime is looked up in the model's
namespace first, then cluster-wide. Without a name, candidates are the enabled
multi-model runtimes that list the model's format with ``autoSelect: true`` (and its
version, when the model names one; the protocol, when it asks for one); namespace
runtimes come before cluster runtimes, and within each group a higher ``priority`` for
the format wins, a runtime with a priority beats one without, then newer before older,
then by name. No candidate: ``NoSupportingRuntime``; an unknown name:
``RuntimeNotRecognized`` (the reasons upstream writes into the status).

The controller checks the choice before registering; the mesh itself places the model
by its type label (``sources.ModelSource.model_type``), as upstream does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .sources import ModelSource

NO_SUPPORTING_RUNTIME = "NoSupportingRuntime"
RUNTIME_NOT_RECOGNIZED = "RuntimeNotRecognized"


@dataclass(frozen=True)
class SupportedFormat:
    name: str
    version: str | None = None
    auto_select: bool = False
    priority: int | None = None


@dataclass(frozen=True)
class ServingRuntime:
    name: str
    cluster: bool = False
    formats: tuple[SupportedFormat, ...] = ()
    multi_model: bool = False
    disabled: bool = False
    protocol_versions: tuple[str, ...] = ()
    # RFC 3339 creation time; they sort as text
    created: str = ""

    @property
    def kind(self) -> str:
        return "ClusterServingRuntime" if self.cluster else "ServingRuntime"

    def labels(self, *, named: bool) -> frozenset[str]:
        """``mt:<format>[:<version>]`` labels this runtime offers (all formats when named)."""
        labels: set[str] = set()
        for fmt in self.formats:
            if named or fmt.auto_select:
                labels.add(f"mt:{fmt.name}")
                if fmt.version:
                    labels.add(f"mt:{fmt.name}:{fmt.version}")
        return frozenset(labels)

    def priority(self, format_name: str) -> int | None:
        return next((f.priority for f in self.formats if f.name == format_name), None)


@dataclass(frozen=True)
class Selected:
    runtime: ServingRuntime


@dataclass(frozen=True)
class NoRuntime:
    reason: str
    message: str


def parse_runtime(obj: Mapping[str, Any], *, cluster: bool) -> ServingRuntime:
    """A (Cluster)ServingRuntime object; malformed fields count as absent."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    formats = []
    for entry in spec.get("supportedModelFormats") or []:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            continue
        priority = entry.get("priority")
        formats.append(
            SupportedFormat(
                name=str(entry["name"]),
                version=str(entry["version"]) if entry.get("version") else None,
                auto_select=entry.get("autoSelect") is True,
                priority=priority if isinstance(priority, int) else None,
            )
        )
    return ServingRuntime(
        name=str(meta.get("name") or ""),
        cluster=cluster,
        formats=tuple(formats),
        multi_model=spec.get("multiModel") is True,
        disabled=spec.get("disabled") is True,
        protocol_versions=tuple(str(p) for p in spec.get("protocolVersions") or ()),
        created=str(meta.get("creationTimestamp") or ""),
    )


def select_runtime(
    source: ModelSource,
    namespaced: Sequence[ServingRuntime],
    cluster: Sequence[ServingRuntime],
) -> Selected | NoRuntime:
    """The runtime for ``source``, given the runtimes of its namespace and the cluster's."""
    if source.runtime:
        return _named(source, source.runtime, [*namespaced, *cluster])
    label = _format_label(source)
    for group in (namespaced, cluster):
        found = [rt for rt in group if _serves(rt, source, label, named=False)]
        if found:
            return Selected(_ranked(found, source.model_format)[0])
    return NoRuntime(
        NO_SUPPORTING_RUNTIME,
        f"no enabled multi-model ServingRuntime or ClusterServingRuntime auto-selects "
        f"model format {label[3:]!r}",
    )


def _named(
    source: ModelSource, name: str, runtimes: Sequence[ServingRuntime]
) -> Selected | NoRuntime:
    runtime = next((rt for rt in runtimes if rt.name == name), None)
    if runtime is None:
        return NoRuntime(
            RUNTIME_NOT_RECOGNIZED, f"no ServingRuntime or ClusterServingRuntime named {name!r}"
        )
    if runtime.disabled:
        return NoRuntime(RUNTIME_NOT_RECOGNIZED, f"{runtime.kind} {name!r} is disabled")
    if not runtime.multi_model:
        return NoRuntime(
            RUNTIME_NOT_RECOGNIZED, f"{runtime.kind} {name!r} is not a multi-model runtime"
        )
    label = _format_label(source)
    if not _serves(runtime, source, label, named=True):
        return NoRuntime(
            NO_SUPPORTING_RUNTIME,
            f"{runtime.kind} {name!r} does not support model format {label[3:]!r}"
            + (f" over protocol {source.protocol_version}" if source.protocol_version else ""),
        )
    return Selected(runtime)


def _format_label(source: ModelSource) -> str:
    label = f"mt:{source.model_format}"
    return f"{label}:{source.format_version}" if source.format_version else label


def _serves(runtime: ServingRuntime, source: ModelSource, label: str, *, named: bool) -> bool:
    if runtime.disabled or not runtime.multi_model:
        return False
    if label not in runtime.labels(named=named):
        return False
    protocol = source.protocol_version
    return not protocol or not runtime.protocol_versions or protocol in runtime.protocol_versions


def _ranked(runtimes: Sequence[ServingRuntime], format_name: str) -> list[ServingRuntime]:
    # newest first, then by name; Python's sorts are stable, so sort by the last key first
    by_name = sorted(runtimes, key=lambda rt: rt.name)
    by_age = sorted(by_name, key=lambda rt: rt.created, reverse=True)

    def rank(rt: ServingRuntime) -> tuple[int, int]:
        priority = rt.priority(format_name)
        return (0, -priority) if priority is not None else (1, 0)

    return sorted(by_age, key=rank)
