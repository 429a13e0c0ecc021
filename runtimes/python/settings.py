"""Settings of the built-in Python runtime: the only place it reads environment variables.

Names follow upstream's runtime adapters where they had one:

| variable | default | meaning |
|---|---|---|
| ``ROOT_MODEL_DIR`` | ``./.modelmesh/models`` | models root: local modelPaths resolve inside it |
| ``STORAGE_CONFIG_DIR`` | unset | storage-config directory (a mounted Secret), see ``storage/`` |
| ``MM_MODEL_CACHE_DIR`` | ``./.modelmesh/cache`` | where models pulled from storage are copied |
| ``MM_PULL_TIMEOUT_MS`` | 30000 | milliseconds a storage server may stay silent in a pull |
| ``PVC_MOUNTS_DIR`` | ``/pvc_mounts`` | where claims are mounted, one directory per claim name |
| ``CONTAINER_MEM_REQ_BYTES`` | a quarter of physical memory | memory the runtime may use |
| ``MEM_BUFFER_BYTES`` | 256 MiB | kept free for requests; capacity = request - buffer |
| ``LOADING_CONCURRENCY`` | 2 | loads that run at once |
| ``LOADTIME_TIMEOUT`` | 90000 | milliseconds a load may take, queueing included |
| ``DEFAULT_MODELSIZE`` | 1048576 | bytes the mesh assumes for a model it has no size for |
| ``INTERNAL_GRPC_PORT`` | 8085 | ``ModelRuntime`` management port (localhost) |
| ``INTERNAL_GRPC_SOCKET_PATH`` | unset | listen on this unix socket instead of the port |
| ``INTERNAL_SERVING_GRPC_PORT`` | 8001 | KServe V2 inference port (localhost) |
| ``INTERNAL_SERVING_GRPC_SOCKET_PATH`` | unset | listen on this unix socket instead |
| ``MM_SVC_GRPC_MAX_MSG_SIZE`` | 16777216 | largest gRPC message, both servers (the mesh's own) |
| ``MM_CUSTOM_MODEL_CLASSES`` | unset | ``type=package.module:Class,...`` (see ``custom.py``) |
| ``RUNTIME_ALLOW_PICKLE`` | ``true`` | ``false``: refuse formats that run code on load (pickle) |

Upstream's puller wrote every model into ``ROOT_MODEL_DIR`` and the runtime read it from there.
Here ``ROOT_MODEL_DIR`` keeps the meaning it has for models given by a local path, and pulled
copies go to ``MM_MODEL_CACHE_DIR``, a directory the runtime owns and empties of what it left:
a model in storage never lands among, or replaces, the local models. A whole pull, like any
load, must finish within ``LOADTIME_TIMEOUT``.

The servers listen on 127.0.0.1 only: the management API loads whatever files the mesh
names, so it is for the mesh beside it, never for the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelmesh.runtimes.python.env_reader import (
    DEFAULT_MEM_BUFFER,
    EnvReader,
    MiB,
    default_mem_request,
)


@dataclass(frozen=True)
class RuntimeSettings:
    models_root: Path = Path(".modelmesh/models")
    capacity_bytes: int = field(default_factory=lambda: default_mem_request() - DEFAULT_MEM_BUFFER)
    loading_concurrency: int = 2
    loading_timeout_ms: int = 90_000
    default_model_size: int = 1 * MiB
    management_address: str = "127.0.0.1:8085"
    serving_address: str = "127.0.0.1:8001"
    max_message_bytes: int = 16 * MiB
    # model type -> "package.module:ClassName"
    custom_model_classes: Mapping[str, str] = field(default_factory=dict)
    storage_config_dir: Path | None = None
    model_cache_dir: Path = Path(".modelmesh/cache")
    pull_timeout_ms: int = 30_000
    pvc_mounts_dir: Path = Path("/pvc_mounts")
    # formats read with pickle (code from the model file runs) are served
    allow_pickle: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RuntimeSettings:
        """Settings from ``environ``; a bad value raises ValueError naming its variable."""
        reader = _Reader(environ)
        return cls(
            models_root=Path(environ.get("ROOT_MODEL_DIR") or cls.models_root),
            capacity_bytes=reader.memory_capacity(),
            loading_concurrency=reader.integer("LOADING_CONCURRENCY", 2),
            loading_timeout_ms=reader.integer("LOADTIME_TIMEOUT", 90_000),
            default_model_size=reader.integer("DEFAULT_MODELSIZE", 1 * MiB),
            management_address=reader.address("INTERNAL_GRPC", 8085),
            serving_address=reader.address("INTERNAL_SERVING_GRPC", 8001),
            max_message_bytes=reader.integer("MM_SVC_GRPC_MAX_MSG_SIZE", 16 * MiB),
            custom_model_classes=reader.class_map("MM_CUSTOM_MODEL_CLASSES"),
            storage_config_dir=reader.path("STORAGE_CONFIG_DIR"),
            model_cache_dir=reader.path("MM_MODEL_CACHE_DIR") or cls.model_cache_dir,
            pull_timeout_ms=reader.integer("MM_PULL_TIMEOUT_MS", 30_000),
            pvc_mounts_dir=reader.path("PVC_MOUNTS_DIR") or cls.pvc_mounts_dir,
            allow_pickle=reader.boolean("RUNTIME_ALLOW_PICKLE", True),
        )


class _Reader(EnvReader):
    def class_map(self, name: str) -> dict[str, str]:
        classes: dict[str, str] = {}
        for entry in self._environ.get(name, "").split(","):
            if not entry.strip():
                continue
            model_type, _, target = (part.strip() for part in entry.partition("="))
            module, _, class_name = target.partition(":")
            if not (model_type and module and class_name):
                raise ValueError(
                    f"{name}: {entry.strip()!r} is not of the form type=package.module:ClassName"
                )
            if model_type.lower() in classes:
                raise ValueError(f"{name}: model type {model_type!r} is given twice")
            classes[model_type.lower()] = target
        return classes
