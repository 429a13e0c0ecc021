"""Commands about vmodels (stable names over concrete models): set, delete, status."""

from __future__ import annotations

import argparse

from modelmesh.mesh.cli import output
from modelmesh.mesh.cli.connection import Connection
from modelmesh.mesh.cli.errors import EXIT_FAILED, EXIT_OK, UsageError
from modelmesh.mesh.cli.progress import wait_for
from modelmesh.protos import model_mesh_pb2 as mm

Status = mm.VModelStatusInfo
ModelStatus = mm.ModelStatusInfo


def set_vmodel(args: argparse.Namespace, conn: Connection) -> int:
    if (args.path or args.key) and not args.type:
        raise UsageError("--path and --key describe the target model: give its --type too")
    request = mm.SetVModelRequest(
        vModelId=args.vmodel_id,
        owner=args.owner,
        targetModelId=args.target,
        updateOnly=args.update_only,
        autoDeleteTargetModel=args.auto_delete,
        # waiting for a load that nobody asked for would never end
        loadNow=args.load or args.wait,
        force=args.force,
        expectedTargetModelId=args.expected_target,
    )
    if args.type:
        # with model info the mesh registers the target model if it is new
        request.modelInfo.CopyFrom(mm.ModelInfo(type=args.type, path=args.path, key=args.key))
    info = conn.mesh().setVModel(request, timeout=conn.call_timeout)
    succeeded = True
    if args.wait:
        info = _wait_until_settled(conn, args.vmodel_id, args.owner)
        succeeded = _succeeded(info)
    _show(args, info)
    return EXIT_OK if succeeded else EXIT_FAILED


def delete_vmodel(args: argparse.Namespace, conn: Connection) -> int:
    conn.mesh().deleteVModel(
        mm.DeleteVModelRequest(vModelId=args.vmodel_id, owner=args.owner),
        timeout=conn.call_timeout,
    )
    if not args.json:
        print(f"vmodel {args.vmodel_id} deleted")
    return EXIT_OK


def vmodel_status(args: argparse.Namespace, conn: Connection) -> int:
    info = conn.mesh().getVModelStatus(
        mm.GetVModelStatusRequest(vModelId=args.vmodel_id, owner=args.owner),
        timeout=conn.call_timeout,
    )
    _show(args, info)
    return EXIT_FAILED if info.status == Status.NOT_FOUND else EXIT_OK


def _settled(info: mm.VModelStatusInfo) -> bool:
    """Done transitioning, and the active model loaded or failed (a new vmodel's first
    target becomes active at once, before it has loaded)."""
    if info.status == Status.TRANSITIONING:
        return False
    if info.status == Status.DEFINED:
        return info.activeModelStatus.status in (ModelStatus.LOADED, ModelStatus.LOADING_FAILED)
    return True


def _succeeded(info: mm.VModelStatusInfo) -> bool:
    return info.status == Status.DEFINED and info.activeModelStatus.status == ModelStatus.LOADED


def _describe(vmodel_id: str, info: mm.VModelStatusInfo) -> str:
    text = f"vmodel {vmodel_id}: {output.vmodel_status_name(info.status)}"
    if info.status == Status.TRANSITIONING:
        target = output.model_status_name(info.targetModelStatus.status)
        return f"{text}, target {info.targetModelId} {target}"
    if info.activeModelId:
        active = output.model_status_name(info.activeModelStatus.status)
        return f"{text}, active {info.activeModelId} {active}"
    return text


def _wait_until_settled(conn: Connection, vmodel_id: str, owner: str) -> mm.VModelStatusInfo:
    stub = conn.mesh()
    request = mm.GetVModelStatusRequest(vModelId=vmodel_id, owner=owner)
    result: mm.VModelStatusInfo = wait_for(
        lambda: stub.getVModelStatus(request, timeout=conn.call_timeout),
        lambda info: _describe(vmodel_id, info),
        _settled,
        timeout=conn.timeout,
    )
    return result


def _show(args: argparse.Namespace, info: mm.VModelStatusInfo) -> None:
    if args.json:
        output.print_json({"vModelId": args.vmodel_id, **output.message_dict(info)})
    else:
        output.print_lines(output.vmodel_status_lines(args.vmodel_id, info))
