"""The standard gRPC health service and server reflection on the mesh port, with the stock
clients (grpcio-health-checking's stub, grpcio-reflection's descriptor database)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.protos import model_mesh_pb2 as pb
from tests.mesh.conftest import StartMesh

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def test_health_check_follows_the_instance(start: StartMesh, clients) -> None:
    app = await start()
    c = clients(app)
    health = health_pb2_grpc.HealthStub(c.channel)
    for service in ("", "mmesh.ModelMesh", "inference.GRPCInferenceService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == SERVING, service
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await health.Check(health_pb2.HealthCheckRequest(service="no.Such"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    # the proxy behind them still takes inference and the API
    assert (await c.v2.ServerReady(v2.ServerReadyRequest())).ready
    status = await c.mesh.getModelStatus(pb.GetStatusRequest(modelId="none"))
    assert status.status == pb.ModelStatusInfo.ModelStatus.NOT_FOUND
    # on the way down health turns first, while the port still answers
    assert app.front is not None
    await app.front.stop()
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == NOT_SERVING
    assert not (await c.v2.ServerReady(v2.ServerReadyRequest())).ready


def _reflect(address: str) -> tuple[list[str], list[str]]:
    """Services the server lists, and the methods reflection describes for ModelMesh."""
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = list(database.get_services())
        mesh = DescriptorPool(database).FindServiceByName("mmesh.ModelMesh")
        return services, [method.name for method in mesh.methods]


async def test_reflection_lists_the_services(start: StartMesh) -> None:
    app = await start()
    services, methods = await asyncio.to_thread(_reflect, app.address)
    assert set(services) >= {
        "mmesh.ModelMesh",
        "mmesh.ModelMeshAdmin",
        "inference.GRPCInferenceService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert {"registerModel", "setVModel", "getModelStatus"} <= set(methods)
