"""How statuses and listings look: aligned text for people, JSON for ``--json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from modelmesh.protos import model_mesh_pb2 as mm


def model_status_name(status: int) -> str:
    return str(mm.ModelStatusInfo.ModelStatus.Name(status))


def vmodel_status_name(status: int) -> str:
    return str(mm.VModelStatusInfo.VModelStatus.Name(status))


def format_time(ms: int) -> str:
    """A local wall-clock time for ms since the epoch; 0 means never."""
    if not ms:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def format_bytes(size: int) -> str:
    if not size:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart, a header row first."""
    cells = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]


def model_status_lines(model_id: str, info: mm.ModelStatusInfo) -> list[str]:
    lines = [f"model {model_id}: {model_status_name(info.status)}"]
    if info.modelCopyInfos:
        copies = table(
            ("LOCATION", "STATUS", "SINCE"),
            (
                (copy.location, model_status_name(copy.copyStatus), format_time(copy.time))
                for copy in info.modelCopyInfos
            ),
        )
        lines += [f"  {line}" for line in copies]
    lines += [f"  error: {error}" for error in info.errors]
    return lines


def vmodel_status_lines(vmodel_id: str, info: mm.VModelStatusInfo) -> list[str]:
    owner = f" (owner {info.owner})" if info.owner else ""
    lines = [f"vmodel {vmodel_id}: {vmodel_status_name(info.status)}{owner}"]
    if info.activeModelId:
        lines += _nested("active", model_status_lines(info.activeModelId, info.activeModelStatus))
    if info.targetModelId and info.targetModelId != info.activeModelId:
        lines += _nested("target", model_status_lines(info.targetModelId, info.targetModelStatus))
    return lines


def _nested(role: str, lines: list[str]) -> list[str]:
    """A model's status under its vmodel: ``  active model m1: LOADED`` and so on."""
    first, *rest = lines
    return [f"  {role} {first}", *(f"  {line}" for line in rest)]


def message_dict(message: Message) -> dict[str, Any]:
    """The proto3 JSON form (enum names, camelCase), empty fields included."""
    return dict(MessageToDict(message, always_print_fields_with_no_presence=True))


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2))


def print_lines(lines: Iterable[str]) -> None:
    print("\n".join(lines))
