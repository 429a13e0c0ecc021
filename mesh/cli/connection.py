"""The client side of one command: a gRPC channel to a mesh and the deadlines to use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc

from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_admin_pb2_grpc as admin_grpc
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc

DEFAULT_ADDRESS = "localhost:8033"
# A cold predict may wait for a load; a minute covers the usual sklearn/xgboost model.
DEFAULT_CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Connection:
    channel: grpc.Channel
    address: str
    # --timeout as given: bounds each call and, when set, a whole --wait
    timeout: float | None = None

    @property
    def call_timeout(self) -> float:
        return self.timeout or DEFAULT_CALL_TIMEOUT

    def mesh(self) -> mm_grpc.ModelMeshStub:
        return mm_grpc.ModelMeshStub(self.channel)

    def admin(self) -> admin_grpc.ModelMeshAdminStub:
        return admin_grpc.ModelMeshAdminStub(self.channel)

    def inference(self) -> v2_grpc.GRPCInferenceServiceStub:
        return v2_grpc.GRPCInferenceServiceStub(self.channel)


@contextmanager
def connect(address: str, timeout: float | None) -> Iterator[Connection]:
    # The client takes any reply size: the mesh enforces its own limit on what it sends.
    options = [("grpc.max_receive_message_length", -1)]
    with grpc.insecure_channel(address, options=options) as channel:
        yield Connection(channel, address, timeout)
