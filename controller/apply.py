"""Mesh steps as ``ModelMesh`` gRPC calls, and the mesh's errors as the controller's.

``MeshClients`` keeps one channel per mesh address (``MM_ENDPOINT`` may name one mesh
per namespace); ``Mesh`` reads a vmodel's status and runs ``SetVModel`` /
``DeleteVModel`` steps from ``reconcile.py``, returning the status to report, which
``status.py`` renders. Errors are translated once, here:

    MeshCallError
    ├── MeshUnreachable   UNAVAILABLE / DEADLINE_EXCEEDED: retry soon; status RuntimeUnhealthy
    └── OwnerConflict     ALREADY_EXISTS: a vmodel of that name belongs to another source;
                          status InvalidPredictorSpec, retried only when something changes
"""

from __future__ import annotations

import logging
from typing import Any

import grpc

from ..protos import model_mesh_pb2 as pb
from ..protos import model_mesh_pb2_grpc as pb_grpc
from .reconcile import DeleteVModel, SetVModel

log = logging.getLogger(__name__)

_RETRY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class MeshCallError(Exception):
    """A ModelMesh call failed; the message is fit for a status."""


class MeshUnreachable(MeshCallError):
    pass


class OwnerConflict(MeshCallError):
    pass


class Mesh:
    """The ``ModelMesh`` API of one mesh, with a deadline on every call."""

    def __init__(self, channel: grpc.aio.Channel, *, address: str, timeout_s: float) -> None:
        self._stub = pb_grpc.ModelMeshStub(channel)
        self.address = address
        self._timeout_s = timeout_s

    async def vmodel_status(self, vmodel_id: str, owner: str) -> pb.VModelStatusInfo:
        request = pb.GetVModelStatusRequest(vModelId=vmodel_id, owner=owner)
        info: pb.VModelStatusInfo = await self._call(self._stub.getVModelStatus, request)
        return info

    async def set_vmodel(self, step: SetVModel) -> pb.VModelStatusInfo:
        source = step.source
        request = pb.SetVModelRequest(
            vModelId=source.vmodel_id,
            owner=source.owner,
            targetModelId=source.model_id,
            autoDeleteTargetModel=True,
            loadNow=True,
            modelInfo=pb.ModelInfo(type=source.model_type, path=source.path, key=source.model_key),
        )
        log.info(
            "setVModel %s/%s -> %s (type %s)",
            source.namespace,
            source.vmodel_id,
            source.model_id,
            source.model_type,
        )
        info: pb.VModelStatusInfo = await self._call(self._stub.setVModel, request)
        return info

    async def delete_vmodel(self, step: DeleteVModel) -> None:
        log.info("deleteVModel %s (owner %s)", step.vmodel_id, step.owner)
        request = pb.DeleteVModelRequest(vModelId=step.vmodel_id, owner=step.owner)
        await self._call(self._stub.deleteVModel, request)

    async def _call(self, method: grpc.aio.UnaryUnaryMultiCallable, request: object) -> Any:
        try:
            return await method(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            code, detail = exc.code(), exc.details() or ""
            if code in _RETRY_CODES:
                raise MeshUnreachable(
                    f"the mesh at {self.address} is not reachable ({code.name}): {detail}"
                ) from exc
            if code == grpc.StatusCode.ALREADY_EXISTS:
                raise OwnerConflict(
                    f"a vmodel of this name already exists from a different source: {detail}"
                ) from exc
            raise MeshCallError(f"the mesh refused the call ({code.name}): {detail}") from exc


class MeshClients:
    """One channel per mesh address, made on first use; ``address_for`` picks the address
    of a namespace from a template such as ``modelmesh-serving.{namespace}:8033``."""

    def __init__(self, template: str, *, timeout_s: float) -> None:
        self._template = template
        self._timeout_s = timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}

    def address_for(self, namespace: str) -> str:
        return self._template.replace("{namespace}", namespace)

    def for_namespace(self, namespace: str) -> Mesh:
        address = self.address_for(namespace)
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(address)
        return Mesh(channel, address=address, timeout_s=self._timeout_s)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
