"""The upstream ``mmesh.ModelMesh`` service and our ``mmesh.ModelMeshAdmin`` listing service."""

from __future__ import annotations

import grpc

from ...protos import model_mesh_admin_pb2 as admin_pb
from ...protos import model_mesh_admin_pb2_grpc as admin_grpc
from ...protos import model_mesh_pb2 as pb
from ...protos import model_mesh_pb2_grpc as pb_grpc
from ..errors import ModelNotFound
from ..loading import now_ms
from ..models import ModelService, valid_id
from ..peers import LOAD_LOCAL_ONLY
from ..placement import place
from ..tasks.leader import LeaderElection
from ..vmodels import VModelService
from .errors import grpc_errors

_DEFAULT_PAGE = 1000
_MAX_PAGE = 10_000


class ModelMeshServicer(pb_grpc.ModelMeshServicer):
    def __init__(self, models: ModelService, vmodels: VModelService) -> None:
        self.models = models
        self.vmodels = vmodels
        self.observer = models.observer

    @grpc_errors
    async def registerModel(
        self, request: pb.RegisterModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatusInfo:
        return await self.models.register(
            request.modelId,
            request.modelInfo,
            load_now=request.loadNow,
            sync=request.sync,
            last_used=request.lastUsedTime,
        )

    @grpc_errors
    async def unregisterModel(
        self, request: pb.UnregisterModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnregisterModelResponse:
        await self.models.unregister(valid_id(request.modelId, "modelId"))
        return pb.UnregisterModelResponse()

    @grpc_errors
    async def getModelStatus(
        self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatusInfo:
        return self.models.status(valid_id(request.modelId, "modelId"))

    @grpc_errors
    async def ensureLoaded(
        self, request: pb.EnsureLoadedRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatusInfo:
        hop, placed = self.models.locator.peers.hop_of(context.invocation_metadata() or ())
        return await self.models.ensure_loaded(
            valid_id(request.modelId, "modelId"),
            last_used=request.lastUsedTime,
            sync=request.sync,
            placed_here=placed if hop == LOAD_LOCAL_ONLY else None,
        )

    @grpc_errors
    async def setVModel(
        self, request: pb.SetVModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.VModelStatusInfo:
        return await self.vmodels.set(request)

    @grpc_errors
    async def deleteVModel(
        self, request: pb.DeleteVModelRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteVModelResponse:
        await self.vmodels.delete(request.vModelId, request.owner)
        return pb.DeleteVModelResponse()

    @grpc_errors
    async def getVModelStatus(
        self, request: pb.GetVModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.VModelStatusInfo:
        return self.vmodels.status(valid_id(request.vModelId, "vModelId"), request.owner)


def _page(ids: list[str], prefix: str, start_after: str, limit: int) -> tuple[list[str], str]:
    size = min(limit or _DEFAULT_PAGE, _MAX_PAGE)
    chosen = [i for i in ids if i.startswith(prefix) and i > start_after][: size + 1]
    if len(chosen) > size:
        return chosen[:size], chosen[size - 1]
    return chosen, ""


class ModelMeshAdminServicer(admin_grpc.ModelMeshAdminServicer):
    def __init__(
        self, models: ModelService, vmodels: VModelService, election: LeaderElection
    ) -> None:
        self.models = models
        self.vmodels = vmodels
        self.election = election
        self.observer = models.observer

    @grpc_errors
    async def listInstances(
        self, request: admin_pb.ListInstancesRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb.ListInstancesResponse:
        leader = await self.election.leader_id()
        reply = admin_pb.ListInstancesResponse()
        for instance_id, record in sorted(self.models.locator.instances.alive().items()):
            reply.instances.add(
                instanceId=instance_id,
                address=record.address,
                capacityBytes=record.capacity,
                usedBytes=record.used,
                lruTime=record.lru_time,
                modelCount=record.model_count,
                loadsInProgress=record.loads_in_progress,
                shuttingDown=record.shutting_down,
                labels=list(record.labels),
                zone=record.zone,
                leader=instance_id == leader,
            )
        return reply

    @grpc_errors
    async def explainModel(
        self, request: admin_pb.ExplainModelRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb.ExplainModelResponse:
        model_id = valid_id(request.modelId, "modelId")
        record = self.models.registry.models.get(model_id)
        if record is None:
            raise ModelNotFound(model_id)
        status = self.models.status(model_id)
        reply = admin_pb.ExplainModelResponse(
            status=status, minCopies=record.min_copies, maxCopies=record.max_copies
        )
        for copy in status.modelCopyInfos:
            reply.copies.add(
                instanceId=copy.location,
                status=copy.copyStatus,
                time=copy.time,
                placedBecause=record.placed.get(copy.location, ""),
                error=record.failures.get(copy.location, "")
                if copy.copyStatus == pb.ModelStatusInfo.LOADING_FAILED
                else "",
            )
        locator = self.models.locator
        verdicts = place(
            locator.instances.alive(),
            model_type=record.type,
            holding=record.instance_ids,
            failed=record.recent_failures(now_ms(), locator.failure_expiry_ms),
            default_model_size=locator.default_model_size,
            now=now_ms(),
        )
        for verdict in verdicts:
            reply.nextPlacement.add(
                instanceId=verdict.instance_id, wouldChoose=verdict.chosen, reason=verdict.reason
            )
        return reply

    @grpc_errors
    async def setModelCopies(
        self, request: admin_pb.SetModelCopiesRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatusInfo:
        return await self.models.set_copies(
            valid_id(request.modelId, "modelId"), request.minCopies, request.maxCopies
        )

    @grpc_errors
    async def listModels(
        self, request: admin_pb.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb.ListModelsResponse:
        registry = self.models.registry
        ids, next_after = _page(
            registry.models.ids(), request.prefix, request.startAfter, request.limit
        )
        reply = admin_pb.ListModelsResponse(nextStartAfter=next_after)
        users: dict[str, list[str]] = {}
        for vid in registry.vmodels.ids():
            vm = registry.vmodels.get(vid)
            if vm is not None:
                for model_id in {vm.active_model, vm.target_model}:
                    users.setdefault(model_id, []).append(vid)
        cache = self.models.loader.cache
        for model_id in ids:
            record = registry.models.get(model_id)
            if record is None:
                continue
            status = self.models.status(model_id)
            entry = cache.get(model_id)
            reply.models.add(
                modelId=model_id,
                type=record.type,
                status=status.status,
                locations=sorted(record.loaded_in),
                lastUsedTime=entry.last_used if entry else record.last_used,
                sizeInBytes=entry.size if entry else 0,
                vModelIds=users.get(model_id, []),
                errors=list(status.errors),
            )
        return reply

    @grpc_errors
    async def listVModels(
        self, request: admin_pb.ListVModelsRequest, context: grpc.aio.ServicerContext
    ) -> admin_pb.ListVModelsResponse:
        ids, next_after = _page(
            self.models.registry.vmodels.ids(), request.prefix, request.startAfter, request.limit
        )
        reply = admin_pb.ListVModelsResponse(nextStartAfter=next_after)
        for vid in ids:
            status = self.vmodels.status(vid)
            if status.status == pb.VModelStatusInfo.NOT_FOUND:
                continue
            reply.vModels.add(
                vModelId=vid,
                owner=status.owner,
                activeModelId=status.activeModelId,
                targetModelId=status.targetModelId,
                status=status.status,
            )
        return reply
