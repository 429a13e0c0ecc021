"""The interface the mesh uses to drive one model runtime.

Two implementations: ``mesh/runtime/grpc_client.py`` talks upstream's ModelRuntime
protocol plus the runtime's inference endpoint over gRPC (any runtime or adapter);
``runtimes/python/inprocess.py`` calls the built-in Python runtime living in the
mesh's own process, so a local hit costs no extra gRPC hop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

# gRPC metadata as the mesh passes it on: (key, value) pairs, values str or bytes.
Metadata = Sequence[tuple[str, str | bytes]]


@dataclass(frozen=True)
class RuntimeInfo:
    """What ``runtimeStatus`` told us."""

    ready: bool
    capacity_bytes: int
    max_loading_concurrency: int
    loading_timeout_ms: int
    default_model_size: int
    version: str = ""
    # "package.Service/Method" -> idInjectionPath (field numbers)
    method_infos: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    limit_model_concurrency: bool = False
    allow_any_method: bool = False


@dataclass(frozen=True)
class LoadResult:
    # 0 means unknown: ask ``model_size``
    size_bytes: int
    max_concurrency: int = 0


class RuntimeCallError(Exception):
    """A call to the runtime failed with this gRPC status; passed on to clients as is."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RuntimeClient(Protocol):
    async def status(self) -> RuntimeInfo: ...

    async def load(
        self, model_id: str, model_type: str, model_path: str, model_key: str
    ) -> LoadResult: ...

    async def unload(self, model_id: str) -> None: ...

    async def model_size(self, model_id: str) -> int: ...

    async def predict_size(
        self, model_id: str, model_type: str, model_path: str, model_key: str
    ) -> int: ...

    async def invoke(self, method: str, request: bytes, model_id: str, metadata: Metadata) -> bytes:
        """Call inference ``method`` ("/pkg.Service/Method") with the serialized request.

        ``model_id`` is the concrete model the request is for; the implementation puts
        it where the runtime expects it (idInjectionPath, or a direct argument).
        Raises RuntimeCallError with the runtime's own status.
        """
        ...

    async def close(self) -> None: ...
