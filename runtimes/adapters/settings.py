"""Settings of the adapters: the only place they read environment variables.

Names follow upstream's runtime adapters (UPSTREAM.md §3.3) where they had one:

| variable | default | meaning |
|---|---|---|
| ``ROOT_MODEL_DIR`` | ``./.modelmesh/models`` | models root: modelPaths resolve inside it |
| ``SERVER_REPOSITORY_DIR`` | ``<ROOT_MODEL_DIR>/_<server>_models`` | the server's repository (1) |
| ``SERVER_HTTP_ENDPOINT`` | ``http://127.0.0.1:<port>`` (2) | the server's management API |
| ``INTERNAL_SERVING_GRPC_PORT`` | 8001; TorchServe 7070; TF Serving 8500 | inference gRPC (3) |
| ``INTERNAL_GRPC_PORT`` | 8085 | where the adapter serves ``ModelRuntime`` (127.0.0.1) |
| ``INTERNAL_GRPC_SOCKET_PATH`` | unset | serve ``ModelRuntime`` on this unix socket instead |
| ``CONTAINER_MEM_REQ_BYTES`` | a quarter of physical memory | the server's memory |
| ``MEM_BUFFER_BYTES`` | 256 MiB | kept free; capacity = request - buffer |
| ``LOADING_CONCURRENCY`` | 1 | loads that run at once |
| ``LOADTIME_TIMEOUT`` | 90000 | milliseconds a load may take, queueing included |
| ``DEFAULT_MODELSIZE`` | 1048576 | bytes for a model whose size on disk is unknown |
| ``MODELSIZE_MULTIPLIER`` | 1.25 | a model's size = its bytes on disk x this |
| ``LIMIT_PER_MODEL_CONCURRENCY`` | 0 | requests a copy takes at once (0: no limit) |
| ``RUNTIME_VERSION`` | what the server reports | ``runtimeVersion`` in ``runtimeStatus`` |
| ``STORAGE_CONFIG_DIR`` | unset | storage-config directory (a mounted Secret), see ``storage/`` |
| ``MM_MODEL_CACHE_DIR`` | ``./.modelmesh/cache`` | where models pulled from storage are copied |
| ``MM_PULL_TIMEOUT_MS`` | 30000 | milliseconds a storage server may stay silent in a pull |
| ``PVC_MOUNTS_DIR`` | ``/pvc_mounts`` | where claims are mounted, one directory per claim name |

(1) Where the adapter writes each model's layout, emptied when the adapter starts serving:
MLServer's ``model_repository_root``, Triton's ``--model-repository``, TorchServe's
``--model-store``. (2) MLServer's REST port 8080, Triton's 8000, TorchServe's management port
8081; TF Serving is driven over gRPC only. (3) The server's inference gRPC port, where the
mesh (given the same variable) sends requests; TF Serving's ModelService is there too.

The adapter listens on 127.0.0.1 only: its API loads whatever files the mesh names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from modelmesh.runtimes.python.env_reader import EnvReader, MiB

Server = Literal["mlserver", "triton", "torchserve", "tfserving"]
SERVERS: tuple[Server, ...] = get_args(Server)

# (HTTP port, inference gRPC port): each server's own defaults, except MLServer's gRPC
# port, which upstream's ServingRuntime sets to 8001 like Triton's.
_DEFAULT_PORTS: dict[Server, tuple[int | None, int]] = {
    "mlserver": (8080, 8001),
    "triton": (8000, 8001),
    "torchserve": (8081, 7070),
    "tfserving": (None, 8500),
}


@dataclass(frozen=True)
class AdapterSettings:
    server: Server
    models_root: Path
    repository_dir: Path
    # base URL of the server's HTTP API; empty for TF Serving (gRPC only)
    http_endpoint: str
    # host:port of the server's inference gRPC
    serving_address: str
    management_address: str = "127.0.0.1:8085"
    capacity_bytes: int = 1024 * MiB
    loading_concurrency: int = 1
    loading_timeout_ms: int = 90_000
    default_model_size: int = 1 * MiB
    size_multiplier: float = 1.25
    limit_model_concurrency: int = 0
    runtime_version: str = ""
    # storage, as the built-in runtime reads it (runtimes/python/settings.py)
    storage_config_dir: Path | None = None
    model_cache_dir: Path = Path(".modelmesh/cache")
    pull_timeout_ms: int = 30_000
    pvc_mounts_dir: Path = Path("/pvc_mounts")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], server: str) -> AdapterSettings:
        """Settings for ``server`` from ``environ``; a bad value raises ValueError naming it."""
        if server not in SERVERS:
            raise ValueError(f"unknown server {server!r}; one of {', '.join(SERVERS)}")
        name: Server = server
        read = EnvReader(environ)
        http_port, grpc_port = _DEFAULT_PORTS[name]
        models_root = Path(read.text("ROOT_MODEL_DIR") or ".modelmesh/models")
        capacity_bytes = read.memory_capacity()
        http = read.text("SERVER_HTTP_ENDPOINT") or (
            f"http://127.0.0.1:{http_port}" if http_port else ""
        )
        if http and not http.startswith(("http://", "https://")):
            raise ValueError(f"SERVER_HTTP_ENDPOINT={http!r} is not an http(s):// URL")
        management = read.address("INTERNAL_GRPC", 8085)
        return cls(
            server=name,
            models_root=models_root,
            repository_dir=Path(
                read.text("SERVER_REPOSITORY_DIR") or models_root / f"_{name}_models"
            ),
            http_endpoint=http.rstrip("/"),
            serving_address=f"127.0.0.1:{read.port('INTERNAL_SERVING_GRPC_PORT', grpc_port)}",
            management_address=management,
            capacity_bytes=capacity_bytes,
            loading_concurrency=read.integer("LOADING_CONCURRENCY", 1),
            loading_timeout_ms=read.integer("LOADTIME_TIMEOUT", 90_000),
            default_model_size=read.integer("DEFAULT_MODELSIZE", 1 * MiB),
            size_multiplier=read.number("MODELSIZE_MULTIPLIER", 1.25),
            limit_model_concurrency=read.integer("LIMIT_PER_MODEL_CONCURRENCY", 0, minimum=0),
            runtime_version=read.text("RUNTIME_VERSION"),
            storage_config_dir=read.path("STORAGE_CONFIG_DIR"),
            model_cache_dir=read.path("MM_MODEL_CACHE_DIR") or cls.model_cache_dir,
            pull_timeout_ms=read.integer("MM_PULL_TIMEOUT_MS", 30_000),
            pvc_mounts_dir=read.path("PVC_MOUNTS_DIR") or cls.pvc_mounts_dir,
        )
