"""Commands about concrete models and instances: register, unregister, status, ensure-loaded,
copies, list."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from typing import Any

from modelmesh.mesh.cli import output
from modelmesh.mesh.cli.connection import Connection
from modelmesh.mesh.cli.errors import EXIT_FAILED, EXIT_OK
from modelmesh.mesh.cli.progress import wait_for
from modelmesh.protos import model_mesh_admin_pb2 as admin
from modelmesh.protos import model_mesh_pb2 as mm

Status = mm.ModelStatusInfo
# A wait for a load ends at one of these; NOT_LOADED is only the moment before loading.
SETTLED = frozenset({Status.LOADED, Status.LOADING_FAILED, Status.NOT_FOUND})
# Ids per list call: big pages, yet each reply stays far below gRPC's message limit.
PAGE_SIZE = 500


def register(args: argparse.Namespace, conn: Connection) -> int:
    request = mm.RegisterModelRequest(
        modelId=args.model_id,
        modelInfo=mm.ModelInfo(type=args.type, path=args.path, key=args.key),
        # waiting for a load that nobody asked for would never end
        loadNow=args.load or args.wait,
    )
    info = conn.mesh().registerModel(request, timeout=conn.call_timeout)
    return _report(args, conn, info)


def unregister(args: argparse.Namespace, conn: Connection) -> int:
    conn.mesh().unregisterModel(
        mm.UnregisterModelRequest(modelId=args.model_id), timeout=conn.call_timeout
    )
    if not args.json:
        print(f"model {args.model_id} unregistered")
    return EXIT_OK


def status(args: argparse.Namespace, conn: Connection) -> int:
    """``status``: the instance table; ``status MODEL_ID``: the model's copies, why they are
    where they are, and where the next copy would go."""
    if args.model_id is None:
        return _instances(args, conn)
    info = conn.mesh().getModelStatus(
        mm.GetStatusRequest(modelId=args.model_id), timeout=conn.call_timeout
    )
    if info.status == Status.NOT_FOUND:
        _show(args, info)
        return EXIT_FAILED
    explained = conn.admin().explainModel(
        admin.ExplainModelRequest(modelId=args.model_id), timeout=conn.call_timeout
    )
    if args.json:
        details = output.message_dict(explained)
        output.print_json({"modelId": args.model_id, **details.pop("status", {}), **details})
        return EXIT_OK
    lines = output.model_status_lines(args.model_id, explained.status)
    for copy in explained.copies:
        why = copy.placedBecause or copy.error
        if why:
            lines.append(f"  {copy.instanceId}: {why}")
    if explained.minCopies or explained.maxCopies:
        lines.append(
            f"copies: at least {explained.minCopies}, at most {explained.maxCopies or 'any'}"
        )
    lines.append("a new copy would go to:")
    lines.extend(f"  {c.instanceId}: {c.reason}" for c in explained.nextPlacement)
    output.print_lines(lines)
    return EXIT_OK


def _instances(args: argparse.Namespace, conn: Connection) -> int:
    reply = conn.admin().listInstances(admin.ListInstancesRequest(), timeout=conn.call_timeout)
    if args.json:
        output.print_json([output.message_dict(i) for i in reply.instances])
        return EXIT_OK
    headers = ("INSTANCE", "ADDRESS", "CAPACITY", "USED", "LRU AGE", "MODELS", "LOADING", "STATE")
    now = time.time() * 1000
    rows = [
        (
            i.instanceId,
            i.address,
            output.format_bytes(i.capacityBytes),
            output.format_bytes(i.usedBytes),
            f"{(now - i.lruTime) / 1000:.0f}s" if i.lruTime else "-",
            str(i.modelCount),
            str(i.loadsInProgress),
            ("leaving" if i.shuttingDown else "serving") + (", leader" if i.leader else ""),
        )
        for i in reply.instances
    ]
    output.print_lines(output.table(headers, rows))
    return EXIT_OK


def copies(args: argparse.Namespace, conn: Connection) -> int:
    """``copies MODEL_ID --min N --max M``: bounds on a model's copies."""
    info = conn.admin().setModelCopies(
        admin.SetModelCopiesRequest(modelId=args.model_id, minCopies=args.min, maxCopies=args.max),
        timeout=conn.call_timeout,
    )
    _show(args, info)
    return EXIT_OK


def ensure_loaded(args: argparse.Namespace, conn: Connection) -> int:
    info = conn.mesh().ensureLoaded(
        mm.EnsureLoadedRequest(modelId=args.model_id), timeout=conn.call_timeout
    )
    return _report(args, conn, info)


def _report(args: argparse.Namespace, conn: Connection, info: mm.ModelStatusInfo) -> int:
    """Print the status a call returned, or with --wait the one the load ended in."""
    succeeded = info.status != Status.NOT_FOUND
    if args.wait:
        info = _wait_until_loaded(conn, args.model_id)
        succeeded = info.status == Status.LOADED
    _show(args, info)
    return EXIT_OK if succeeded else EXIT_FAILED


def _wait_until_loaded(conn: Connection, model_id: str) -> mm.ModelStatusInfo:
    stub = conn.mesh()
    request = mm.GetStatusRequest(modelId=model_id)
    result: mm.ModelStatusInfo = wait_for(
        lambda: stub.getModelStatus(request, timeout=conn.call_timeout),
        lambda info: f"model {model_id}: {output.model_status_name(info.status)}",
        lambda info: info.status in SETTLED,
        timeout=conn.timeout,
    )
    return result


def _show(args: argparse.Namespace, info: mm.ModelStatusInfo) -> None:
    if args.json:
        output.print_json({"modelId": args.model_id, **output.message_dict(info)})
    else:
        output.print_lines(output.model_status_lines(args.model_id, info))


def list_models(args: argparse.Namespace, conn: Connection) -> int:
    """``list``: every model (or with --vmodels every vmodel), all pages."""
    stub = conn.admin()
    headers: tuple[str, ...]
    row: Callable[[Any], tuple[str, ...]]
    if args.vmodels:
        items = list(
            _paged(stub.listVModels, admin.ListVModelsRequest, "vModels", args.prefix, conn)
        )
        headers, row = ("VMODEL ID", "OWNER", "STATUS", "ACTIVE", "TARGET"), _vmodel_row
    else:
        items = list(_paged(stub.listModels, admin.ListModelsRequest, "models", args.prefix, conn))
        headers = ("MODEL ID", "TYPE", "STATUS", "COPIES", "SIZE", "LAST USED", "VMODELS")
        row = _model_row
    if args.json:
        output.print_json([output.message_dict(item) for item in items])
    else:
        output.print_lines(output.table(headers, [row(item) for item in items]))
    return EXIT_OK


def _model_row(model: admin.ModelSummary) -> tuple[str, ...]:
    return (
        model.modelId,
        model.type,
        output.model_status_name(model.status),
        str(len(model.locations)),
        output.format_bytes(model.sizeInBytes),
        output.format_time(model.lastUsedTime),
        ",".join(model.vModelIds) or "-",
    )


def _vmodel_row(vmodel: admin.VModelSummary) -> tuple[str, ...]:
    return (
        vmodel.vModelId,
        vmodel.owner or "-",
        output.vmodel_status_name(vmodel.status),
        vmodel.activeModelId or "-",
        vmodel.targetModelId or "-",
    )


def _paged(
    method: Callable[..., Any], request_type: type[Any], items: str, prefix: str, conn: Connection
) -> Iterator[Any]:
    """Follow ``nextStartAfter`` until the last page (both list calls page alike)."""
    start_after = ""
    while True:
        page = method(
            request_type(prefix=prefix, limit=PAGE_SIZE, startAfter=start_after),
            timeout=conn.call_timeout,
        )
        yield from getattr(page, items)
        if not page.nextStartAfter:
            return
        start_after = page.nextStartAfter
