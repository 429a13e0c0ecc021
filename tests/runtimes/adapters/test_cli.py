"""``modelmesh adapter --server ...`` as a process: it serves ModelRuntime in front of the
server, stops cleanly on SIGTERM, and refuses a bad environment with one line."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from modelmesh.protos import model_runtime_pb2 as mr
from modelmesh.protos import model_runtime_pb2_grpc as mr_grpc
from tests.runtimes.adapters.servers import RunningServer
from tests.support.etcd import free_ports

CLI = [sys.executable, "-m", "modelmesh.mesh.cli.main"]


@pytest.mark.slow
async def test_adapter_command_serves_until_sigterm(
    mlserver: RunningServer, tmp_path: Path
) -> None:
    (port,) = free_ports(1)
    env = {
        **os.environ,
        "INTERNAL_GRPC_PORT": str(port),
        "SERVER_HTTP_ENDPOINT": mlserver.http_url,
        "SERVER_REPOSITORY_DIR": str(mlserver.repository),
        "INTERNAL_SERVING_GRPC_PORT": str(mlserver.grpc_port),
        "ROOT_MODEL_DIR": str(tmp_path),
        "CONTAINER_MEM_REQ_BYTES": str(300 * 1024 * 1024),
        "MEM_BUFFER_BYTES": str(100 * 1024 * 1024),
    }
    process = await asyncio.create_subprocess_exec(
        *CLI,
        "adapter",
        "--server",
        "mlserver",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = mr_grpc.ModelRuntimeStub(channel)
            status = None
            for _ in range(300):
                try:
                    status = await stub.runtimeStatus(mr.RuntimeStatusRequest(), timeout=2)
                    break
                except grpc.aio.AioRpcError:
                    await asyncio.sleep(0.1)
        assert status is not None and status.status == mr.RuntimeStatusResponse.READY
        assert status.capacityInBytes == 200 * 1024 * 1024
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, stderr.decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_bad_environment_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [*CLI, "adapter", "--server", "triton"],
        env={**os.environ, "LOADING_CONCURRENCY": "many"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "error: LOADING_CONCURRENCY='many' is not an integer"


def test_unknown_server_is_a_usage_error() -> None:
    result = subprocess.run(
        [*CLI, "adapter", "--server", "ovms"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "invalid choice: 'ovms'" in result.stderr
