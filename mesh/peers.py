"""Calls from this instance to its peers: one channel per peer, raw bytes both ways.

A forwarded request carries ``mm-hop`` so the peer serves it itself and never forwards
it again (no loops): ``hit_only`` (serve from your copy, or say you have none) or
``load_local_only`` (load here if needed, then serve; ``mm-placed`` says why this instance
was chosen). Failures after which another instance may succeed (unreachable peer, no copy
there, failed load, no room) raise ``PeerFault``; any other status is the answer and
passes through as ``RuntimeCallError``.
"""

from __future__ import annotations

import asyncio
import hmac

import grpc

from .api.errors import FAULT_HEADER
from .runtime.client import Metadata, RuntimeCallError
from .tls import MeshTls, close_later, secure_or_insecure_channel

HOP_HEADER = "mm-hop"
TOKEN_HEADER = "mm-hop-token"
PLACED_HEADER = "mm-placed-bin"
HIT_ONLY = "hit_only"
LOAD_LOCAL_ONLY = "load_local_only"

# headers of the client's call that are the transport's, not the request's
_TRANSPORT = frozenset({"user-agent", "content-type", "te", "host", "grpc-accept-encoding"})

# set by peers only; a client's copies are dropped, never passed on
_HOP_HEADERS = frozenset({HOP_HEADER, TOKEN_HEADER, PLACED_HEADER})


class PeerFault(Exception):
    """The peer could not serve this request; another instance may."""

    def __init__(self, instance_id: str, reason: str, code: grpc.StatusCode) -> None:
        super().__init__(f"{instance_id}: {reason}")
        self.instance_id = instance_id
        self.reason = reason
        self.code = code


class Peers:
    def __init__(self, *, max_message_bytes: int, token: str, tls: MeshTls | None = None) -> None:
        # the mesh's shared secret: hop headers count only with it, so a client can't
        # pass itself off as a peer (force a load here, skip placement)
        self._token = token
        self._options: list[tuple[str, object]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.inflight: dict[str, int] = {}
        # TLS to peers; channels are made anew when the certificate files change
        self._tls = tls
        self._tls_generation = 0
        self._closing: set[asyncio.Task[None]] = set()

    def _channel(self, address: str) -> grpc.aio.Channel:
        tls = self._tls
        if tls is not None and tls.peer_generation() != self._tls_generation:
            self._tls_generation = tls.generation
            close_later(list(self._channels.values()), 30.0, self._closing)
            self._channels.clear()
        channel = self._channels.get(address)
        if channel is None:
            channel = secure_or_insecure_channel(address, self._options, tls)
            self._channels[address] = channel
        return channel

    async def forward(
        self,
        instance_id: str,
        address: str,
        method: str,
        request: bytes,
        metadata: Metadata,
        *,
        hop: str,
        placed: str = "",
        timeout_s: float | None = None,
    ) -> bytes:
        headers = [
            (k, v)
            for k, v in metadata
            if not k.startswith(":") and k not in _TRANSPORT and k not in _HOP_HEADERS
        ]
        headers.append((HOP_HEADER, hop))
        headers.append((TOKEN_HEADER, self._token))
        if placed:
            headers.append((PLACED_HEADER, placed.encode()))
        call = self._channel(address).unary_unary(method)
        self.inflight[instance_id] = self.inflight.get(instance_id, 0) + 1
        try:
            reply: bytes = await call(request, metadata=headers, timeout=timeout_s)
            return reply
        except grpc.aio.AioRpcError as exc:
            trailers = dict(exc.trailing_metadata() or ())
            fault = trailers.get(FAULT_HEADER)
            details = exc.details() or exc.code().name
            if fault is not None or exc.code() == grpc.StatusCode.UNAVAILABLE:
                raise PeerFault(instance_id, details, exc.code()) from exc
            raise RuntimeCallError(exc.code(), details) from exc
        finally:
            self.inflight[instance_id] -= 1

    def hop_of(self, metadata: Metadata) -> tuple[str | None, str]:
        """The hop (and placement reason) a peer set on this request; (None, "") for a
        client's request, including one that sets the headers without the mesh's token."""
        hop: str | None = None
        placed = ""
        token: str | bytes = ""
        for key, value in metadata:
            if key == HOP_HEADER:
                hop = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            elif key == PLACED_HEADER:
                placed = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            elif key == TOKEN_HEADER:
                token = value
        if hop is None:
            return None, ""
        given = token.encode() if isinstance(token, str) else token
        if not hmac.compare_digest(given, self._token.encode()):
            return None, ""
        return hop, placed

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        await asyncio.gather(*self._closing, return_exceptions=True)
