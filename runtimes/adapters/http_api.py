"""A small JSON-over-HTTP client for the servers' management APIs (aiohttp).

MLServer and Triton speak the V2 repository API, TorchServe its management API; all answer
errors with a JSON body naming the problem (``error``, ``message`` or ``detail``), except
MLServer in its default debug mode, which sends the Python traceback as text. ``message_of``
finds the server's own words in either, so a failed load reports what the server said.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from modelmesh.runtimes.adapters.errors import ServerUnreachable

_MAX_MESSAGE = 500


@dataclass(frozen=True)
class Reply:
    status: int
    # the parsed JSON body, or None when the body is not JSON
    data: Any
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def message(self) -> str:
        return message_of(self.data, self.text) or f"HTTP {self.status}"


def message_of(data: Any, text: str) -> str:
    """The error message in a JSON body, else the last line of a traceback, else the text."""
    if isinstance(data, dict):
        for field in ("error", "message", "detail"):
            value = data.get(field)
            if value:
                return _short(value if isinstance(value, str) else json.dumps(value))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and lines[0].startswith("Traceback"):
        return _short(lines[-1])  # "KeyError: 110": the exception, as Python printed it
    return _short(" ".join(lines))


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "..."


class HttpApi:
    """Calls to one server's HTTP API; any transport failure is ``ServerUnreachable``."""

    def __init__(self, base_url: str, server_name: str) -> None:
        self.base_url = base_url
        self._server_name = server_name
        self._session: aiohttp.ClientSession | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
    ) -> Reply:
        if self._session is None:  # made here: a session belongs to the running loop
            self._session = aiohttp.ClientSession()
        url = self.base_url + path
        try:
            async with self._session.request(
                method,
                url,
                json=body,
                params=params,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as response:
                text = await response.text(errors="replace")
                status = response.status
        except (aiohttp.ClientError, OSError) as exc:
            raise ServerUnreachable(
                f"{self._server_name} at {self.base_url} did not answer {method} {path}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        try:
            data = json.loads(text) if text.strip() else None
        except ValueError:
            data = None
        return Reply(status, data, text)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
