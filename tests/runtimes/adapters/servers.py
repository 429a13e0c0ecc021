"""The third-party servers of the adapter tests, for real, each in its own virtual environment.

The environments are the benchmark's (``bench/peers/venvs.py``, in
``~/.cache/modelmesh/peer-venvs/``,
made on first use and reused while their requirements stay the same); the processes run in
their own session and are stopped as a group (``bench/peers/process.py``). Every server
listens on free loopback ports and reads models from a repository directory that the
adapter under test writes into.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.peers import venvs
from bench.peers.process import ServerProcess
from tests.support.etcd import free_ports

START_TIMEOUT_S = 120.0


@dataclass
class RunningServer:
    process: ServerProcess
    repository: Path
    http_url: str
    grpc_port: int
    # seconds: making (or finding) the venv, and the start until the server answered
    venv_s: float
    start_s: float

    def stop(self) -> None:
        self.process.stop(timeout_s=10)


def _venv(name: str) -> tuple[Path, float]:
    began = time.monotonic()
    root = venvs.ensure(name)
    return root, time.monotonic() - began


def _wait_http(process: ServerProcess, url: str, began: float) -> float:
    """Poll ``url`` until it answers 200; seconds since ``began``. Fails with the log."""
    while True:
        if not process.running:
            raise RuntimeError(f"{process.name} exited:\n{process.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - began
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() - began > START_TIMEOUT_S:
            process.stop()
            raise TimeoutError(
                f"{process.name} not ready in {START_TIMEOUT_S} s:\n{process.log_tail()}"
            )
        time.sleep(0.1)


def start_mlserver(directory: Path) -> RunningServer:
    """``mlserver start`` on an empty repository, models loaded only when asked."""
    root, venv_s = _venv("mlserver")
    repository = directory / "repository"
    repository.mkdir(parents=True)
    http_port, grpc_port, metrics_port = free_ports(3)
    env = {
        "MLSERVER_HOST": "127.0.0.1",
        "MLSERVER_HTTP_PORT": str(http_port),
        "MLSERVER_GRPC_PORT": str(grpc_port),
        "MLSERVER_METRICS_PORT": str(metrics_port),
        "MLSERVER_LOAD_MODELS_AT_STARTUP": "false",
        # in-process inference: no worker pool to start (PEERS.md §5)
        "MLSERVER_PARALLEL_WORKERS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    process = ServerProcess(
        "mlserver",
        [str(root / "bin" / "mlserver"), "start", str(repository)],
        env,
        directory / "mlserver.log",
        cwd=directory,
    )
    began = time.monotonic()
    process.start()
    url = f"http://127.0.0.1:{http_port}"
    start_s = _wait_http(process, f"{url}/v2/health/ready", began)
    return RunningServer(process, repository, url, grpc_port, venv_s, start_s)


def start_triton(directory: Path) -> RunningServer:
    """``tritonserver`` from nvidia-pytriton in explicit model control, Python backend only.

    As PyTriton does (PEERS.md §9, TOOLCHAIN.md §7): the backend directory gets the Python
    backend stub for this interpreter's version, ``LD_LIBRARY_PATH`` names this
    interpreter's libpython and the wheel's bundled libraries, and the venv's ``bin`` leads
    ``PATH`` so that the stub's embedded Python finds the venv (numpy) as its prefix.
    """
    root, venv_s = _venv("triton")
    site = Path(
        subprocess.run(
            [
                str(root / "bin" / "python"),
                "-c",
                "import sysconfig; print(sysconfig.get_path('purelib'))",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    dist = site / "pytriton" / "tritonserver"
    backends = directory / "backends"
    shutil.copytree(dist / "backends", backends)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    shutil.copy(
        dist / "python_backend_stubs" / version / "triton_python_backend_stub",
        backends / "python" / "triton_python_backend_stub",
    )
    repository = directory / "repository"
    repository.mkdir(parents=True)
    http_port, grpc_port, metrics_port = free_ports(3)
    libdir = sysconfig.get_config_var("LIBDIR")
    env = {
        "LD_LIBRARY_PATH": f"{libdir}:{site / 'nvidia_pytriton.libs'}",
        "PATH": f"{root / 'bin'}:{os.environ.get('PATH', '')}",
    }
    args = [
        str(dist / "bin" / "tritonserver"),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
        f"--cache-directory={dist / 'caches'}",
        "--model-control-mode=explicit",
        "--http-address=127.0.0.1",
        f"--http-port={http_port}",
        "--grpc-address=127.0.0.1",
        f"--grpc-port={grpc_port}",
        f"--metrics-port={metrics_port}",
        "--allow-metrics=false",
        "--exit-timeout-secs=2",
    ]
    process = ServerProcess("tritonserver", args, env, directory / "triton.log", cwd=directory)
    began = time.monotonic()
    process.start()
    url = f"http://127.0.0.1:{http_port}"
    start_s = _wait_http(process, f"{url}/v2/health/ready", began)
    return RunningServer(process, repository, url, grpc_port, venv_s, start_s)


def start_torchserve(directory: Path) -> RunningServer:
    """``torchserve --foreground`` (JDK 17) with an empty model store, no token, no snapshots."""
    root, venv_s = _venv("torchserve")
    store = directory / "store"
    store.mkdir(parents=True)
    inference, management, metrics, grpc_inference, grpc_management = free_ports(5)
    config = directory / "config.properties"
    config.write_text(
        "\n".join(
            [
                f"inference_address=http://127.0.0.1:{inference}",
                f"management_address=http://127.0.0.1:{management}",
                f"metrics_address=http://127.0.0.1:{metrics}",
                "grpc_inference_address=127.0.0.1",
                "grpc_management_address=127.0.0.1",
                f"grpc_inference_port={grpc_inference}",
                f"grpc_management_port={grpc_management}",
                "disable_token_authorization=true",
                "enable_model_api=true",
                "install_py_dep_per_model=false",
                "default_workers_per_model=1",
                "",
            ]
        )
    )
    args = [
        str(root / "bin" / "torchserve"),
        "--start",
        "--foreground",
        "--ncs",
        "--model-store",
        str(store),
        "--ts-config",
        str(config),
    ]
    env = {
        "PATH": f"{root / 'bin'}:{os.environ.get('PATH', '')}",
        # torchserve keeps its pid file in the temp dir and refuses to start beside another
        # (a concurrent test run): one temp dir per server
        "TMPDIR": str(directory),
    }
    process = ServerProcess("torchserve", args, env, directory / "torchserve.log", cwd=directory)
    began = time.monotonic()
    process.start()
    url = f"http://127.0.0.1:{management}"
    start_s = _wait_http(process, f"{url}/models", began)
    return RunningServer(process, store, url, grpc_inference, venv_s, start_s)


def archive_model(name: str, handler: Path, extra: list[Path], out: Path) -> Path:
    """A ``.mar`` made by the real ``torch-model-archiver`` of TorchServe's venv."""
    archiver = venvs.VENVS / "torchserve" / "bin" / "torch-model-archiver"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            str(archiver),
            "--model-name",
            name,
            "--version",
            "1.0",
            "--handler",
            str(handler),
            "--extra-files",
            ",".join(str(p) for p in extra),
            "--export-path",
            str(out),
            "--force",
        ],
        check=True,
        capture_output=True,
    )
    return out / f"{name}.mar"
