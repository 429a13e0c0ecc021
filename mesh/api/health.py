"""The standard gRPC health service and server reflection on the mesh's gRPC port.

Both must be added before the inference proxy (``inference.py``), whose generic handler
claims every method no earlier service has. Reflection lists the mesh's services so that
``grpcurl`` and similar tools can call them without .proto files; the V2 inference service
is listed too, though the proxy answers it.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

from ...protos import grpc_predict_v2_pb2 as v2
from ...protos import model_mesh_admin_pb2 as admin_pb
from ...protos import model_mesh_pb2 as pb

# The services whose health is reported ("" stands for the whole server).
SERVICES = (
    "",
    pb.DESCRIPTOR.services_by_name["ModelMesh"].full_name,
    admin_pb.DESCRIPTOR.services_by_name["ModelMeshAdmin"].full_name,
    v2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
)


class Health:
    """The health servicer; every service's status moves together."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.servicer = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)
        names = [name for name in SERVICES if name]
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )

    async def set_status(self, status: int) -> None:
        for service in SERVICES:
            await self.servicer.set(service, status)

    async def shut_down(self) -> None:
        """NOT_SERVING from now on, whatever readiness says."""
        await self.servicer.enter_graceful_shutdown()
