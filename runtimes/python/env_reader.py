"""Reading the environment variables the built-in runtime and the adapters share in kind:
integers, numbers, booleans, paths, ports, listen addresses and the memory they may use.

``settings.py`` (the built-in runtime) and ``adapters/settings.py`` read every variable
through an ``EnvReader``; a bad value raises ValueError naming its variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

MiB = 1024 * 1024
DEFAULT_MEM_BUFFER = 256 * MiB


def default_mem_request() -> int:
    """A quarter of physical memory: room for the mesh, its peers and the OS beside us."""
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4


class EnvReader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str:
        return self._environ.get(name, "").strip()

    def integer(self, name: str, default: int, *, minimum: int = 1) -> int:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not an integer") from None
        if value < minimum:
            raise ValueError(f"{name}={value} must be at least {minimum}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.text(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number") from None
        if not value > 0:
            raise ValueError(f"{name}={raw} must be more than 0")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.text(name).lower()
        if not raw:
            return default
        if raw not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{name}={raw!r} is not a boolean (true/false)")
        return raw in ("true", "1", "yes")

    def path(self, name: str) -> Path | None:
        raw = self.text(name)
        return Path(raw) if raw else None

    def port(self, name: str, default: int) -> int:
        port = self.integer(name, default)
        if port > 65535:
            raise ValueError(f"{name}={port} is not a TCP port")
        return port

    def address(self, prefix: str, default_port: int) -> str:
        """``unix:<path>`` from ``<prefix>_SOCKET_PATH``, else ``127.0.0.1:<prefix>_PORT``:
        these APIs load whatever files they are told, so never for the network."""
        socket_path = self.text(f"{prefix}_SOCKET_PATH")
        if socket_path:
            return f"unix:{socket_path}"
        return f"127.0.0.1:{self.port(f'{prefix}_PORT', default_port)}"

    def memory_capacity(self) -> int:
        """``CONTAINER_MEM_REQ_BYTES`` - ``MEM_BUFFER_BYTES``: the memory models may use."""
        mem_request = self.integer("CONTAINER_MEM_REQ_BYTES", default_mem_request())
        mem_buffer = self.integer("MEM_BUFFER_BYTES", DEFAULT_MEM_BUFFER, minimum=0)
        if mem_request <= mem_buffer:
            raise ValueError(
                f"CONTAINER_MEM_REQ_BYTES ({mem_request}) must exceed MEM_BUFFER_BYTES "
                f"({mem_buffer}): the capacity is their difference"
            )
        return mem_request - mem_buffer
