"""The built-in runtime as its own process: ``ModelRuntime`` and KServe V2 over gRPC.

``serve_forever`` is what ``modelmesh runtime`` runs; ``start_runtime_servers`` is the
wiring, also used by tests and by anything embedding the servers in its own event loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc

from modelmesh.protos import grpc_predict_v2_pb2_grpc as v2_grpc
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.servicers import InferenceServicer, ModelRuntimeServicer
from modelmesh.runtimes.python.settings import MiB, RuntimeSettings
from modelmesh.runtimes.python.stop_signal import until_stop_signal

logger = logging.getLogger(__name__)

# Seconds in-flight calls get to finish when the process is asked to stop.
STOP_GRACE_S = 5.0


@dataclass(frozen=True)
class RuntimeServers:
    servers: list[grpc.aio.Server]
    # the addresses listened on, with the real port where port 0 was asked for
    management_address: str
    serving_address: str

    async def stop(self, grace: float | None = STOP_GRACE_S) -> None:
        await asyncio.gather(*(server.stop(grace) for server in self.servers))


async def start_runtime_servers(
    runtime: PythonRuntime,
    *,
    management_address: str,
    serving_address: str,
    max_message_bytes: int = 16 * MiB,
) -> RuntimeServers:
    """Start ``ModelRuntime`` on one address and KServe V2 on the other.

    Addresses are gRPC's: ``host:port`` or ``unix:path``. Equal addresses share one server,
    except with port 0, which picks a free port for each.
    """
    options = [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
    management = grpc.aio.server(options=options)
    mr_grpc.add_ModelRuntimeServicer_to_server(ModelRuntimeServicer(runtime), management)
    servers = [management]
    if serving_address == management_address and not _picks_port(serving_address):
        serving = management
    else:
        serving = grpc.aio.server(options=options)
        servers.append(serving)
    v2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(runtime), serving)
    management_address = _listen(management, management_address)
    serving_address = (
        management_address if serving is management else _listen(serving, serving_address)
    )
    for server in servers:
        await server.start()
    return RuntimeServers(servers, management_address, serving_address)


def _picks_port(address: str) -> bool:
    return not address.startswith("unix:") and address.endswith(":0")


def _listen(server: grpc.aio.Server, address: str) -> str:
    port = server.add_insecure_port(address)
    return f"{address[:-2]}:{port}" if _picks_port(address) else address


async def serve_forever(settings: RuntimeSettings) -> None:
    """Run the runtime until SIGINT or SIGTERM, then drain calls and stop."""
    settings.models_root.mkdir(parents=True, exist_ok=True)
    runtime = PythonRuntime(settings)
    servers = await start_runtime_servers(
        runtime,
        management_address=settings.management_address,
        serving_address=settings.serving_address,
        max_message_bytes=settings.max_message_bytes,
    )
    logger.info(
        "python runtime: ModelRuntime on %s, KServe V2 on %s, models under %s, types %s",
        servers.management_address,
        servers.serving_address,
        settings.models_root.resolve(),
        ", ".join(runtime.model_types),
    )
    try:
        await until_stop_signal()
        logger.info("python runtime stopping")
    finally:
        await servers.stop()
        await runtime.close()
