"""The client side of one command: a gRPC channel to a mesh and the deadlines to use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_mesh_admin_pb2_grpc as admin_grpc
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc

from .errors import UsageError

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


@dataclass(frozen=True)
class ClientTls:
    """--tls-ca (the CA the mesh's certificate is checked against; empty: the system's),
    --tls-cert and --tls-key (a client certificate, for a mesh that requires one)."""

    ca: str = ""
    cert: str = ""
    key: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        if bool(self.cert) != bool(self.key):
            raise UsageError("--tls-cert and --tls-key go together")

        def read(path: str, flag: str) -> bytes | None:
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise UsageError(f"{flag} {path}: {exc.strerror or exc}") from None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca, "--tls-ca"),
            private_key=read(self.key, "--tls-key"),
            certificate_chain=read(self.cert, "--tls-cert"),
        )


@contextmanager
def connect(
    address: str, timeout: float | None, tls: ClientTls | None = None
) -> Iterator[Connection]:
    # The client takes any reply size: the mesh enforces its own limit on what it sends.
    options = [("grpc.max_receive_message_length", -1)]
    if tls is None:
        channel = grpc.insecure_channel(address, options=options)
    else:
        channel = grpc.secure_channel(address, tls.credentials(), options=options)
    with channel:
        yield Connection(channel, address, timeout)
