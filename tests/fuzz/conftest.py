"""Fixtures of the fuzz suite: one running mesh per module, in a thread of its own.

Hypothesis calls each test function thousands of times, synchronously; the mesh (an
asyncio program) runs in its own event loop on a background thread, started once per
module, and the tests talk to it over loopback as any client would. ``ErrorLog`` collects
every ERROR a ``modelmesh`` logger writes meanwhile: the mesh logs an unexpected
exception that way, so a fuzz module ends by checking it stayed empty.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass

import grpc
import pytest

from modelmesh.mesh.app import MeshApp, start_mesh
from modelmesh.mesh.settings import Settings
from modelmesh.protos import model_mesh_pb2 as pb
from modelmesh.protos import model_mesh_pb2_grpc as mm_grpc
from tests.support.models import write_sklearn

# every call gives up after this long: a reply that takes longer is a hang
CALL_TIMEOUT_S = 10.0

# codes that mean the mesh itself failed, hung or crashed
FAILURES = frozenset(
    {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DEADLINE_EXCEEDED}
)


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        # the mesh's own loggers, and grpc's, which logs what a servicer let escape
        if record.name.startswith(("modelmesh", "grpc")):
            self.records.append(record)

    def lines(self) -> list[str]:
        return [self.format(r) for r in self.records]


@dataclass
class RunningMesh:
    app: MeshApp
    channel: grpc.Channel
    errors: ErrorLog

    @property
    def rest_url(self) -> str:
        assert self.app.front is not None
        return f"http://127.0.0.1:{self.app.front.rest_port}"


Started = Future[tuple[MeshApp, asyncio.Event, asyncio.AbstractEventLoop]]


def _serve(settings: Settings, started: Started) -> None:
    async def main() -> None:
        try:
            app = await start_mesh(settings)
        except BaseException as exc:
            started.set_exception(exc)
            return
        stop = asyncio.Event()
        started.set_result((app, stop, asyncio.get_running_loop()))
        await stop.wait()
        await app.stop(0)

    asyncio.run(main())


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    """A mesh with the built-in runtime, model ``digits`` loaded and vmodel ``digits-v``."""
    root = tmp_path_factory.mktemp("fuzz")
    write_sklearn(root / "models" / "sklearn")
    settings = Settings.from_env(
        {
            "MM_DATA_DIR": str(root / "data"),
            "MM_SVC_GRPC_PORT": "0",
            "ROOT_MODEL_DIR": str(root / "models"),
            "CONTAINER_MEM_REQ_BYTES": str(256 * 1024 * 1024),
            "MEM_BUFFER_BYTES": "0",
            # fuzzed registrations fail to load; a failure is not retried for a while
            "LOADTIME_TIMEOUT": "5000",
        }
    )
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    started: Started = Future()
    thread = threading.Thread(target=_serve, args=(settings, started), daemon=True)
    thread.start()
    app, stop, loop = started.result(timeout=60)
    channel = grpc.insecure_channel(app.address)
    try:
        stub = mm_grpc.ModelMeshStub(channel)
        stub.registerModel(
            pb.RegisterModelRequest(
                modelId="digits",
                modelInfo=pb.ModelInfo(type="sklearn", path="sklearn"),
                loadNow=True,
                sync=True,
            ),
            timeout=60,
        )
        stub.setVModel(pb.SetVModelRequest(vModelId="digits-v", targetModelId="digits"), timeout=60)
        yield RunningMesh(app, channel, errors)
    finally:
        channel.close()
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        logging.getLogger().removeHandler(errors)


def check_rpc_error(error: grpc.RpcError) -> None:
    """A refusal must be a proper status: a known code and a message, no crash, no hang."""
    code = error.code()  # type: ignore[attr-defined]
    details = error.details()  # type: ignore[attr-defined]
    assert code not in FAILURES, f"{code}: {details}"
    assert details, f"{code} without a message"
