"""The inference front door on the mesh port: any unary method, forwarded as raw bytes.

A generic handler takes every method no registered service claims, hands the request's
bytes to the router, and returns the runtime's reply bytes unparsed. The three
server-level KServe V2 calls (no model involved) are answered by the mesh itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from ...protos import grpc_predict_v2_pb2 as v2
from ..forwarding import Router
from .errors import abort_with

_V2 = "/inference.GRPCInferenceService/"

Handler = Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]


class InferenceProxy(grpc.GenericRpcHandler):
    def __init__(self, router: Router, *, ready: Callable[[], bool], version: str) -> None:
        self.router = router
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        live = v2.ServerLiveResponse(live=True).SerializeToString()
        metadata = v2.ServerMetadataResponse(name="modelmesh", version=version).SerializeToString()

        async def server_live(_: bytes, __: grpc.aio.ServicerContext) -> bytes:
            return live

        async def server_ready(_: bytes, __: grpc.aio.ServicerContext) -> bytes:
            return v2.ServerReadyResponse(ready=ready()).SerializeToString()

        async def server_metadata(_: bytes, __: grpc.aio.ServicerContext) -> bytes:
            return metadata

        self._local: dict[str, Handler] = {
            _V2 + "ServerLive": server_live,
            _V2 + "ServerReady": server_ready,
            _V2 + "ServerMetadata": server_metadata,
        }

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is None:
            # bytes in, bytes out: no (de)serializers
            behaviour = self._local.get(method) or self._forwarder(method)
            handler = grpc.unary_unary_rpc_method_handler(behaviour)
            if len(self._handlers) < 1000:  # bounded: method names come from clients
                self._handlers[method] = handler
        return handler

    def _forwarder(self, method: str) -> Handler:
        invoke = self.router.invoke

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                return await invoke(method, request, context.invocation_metadata())
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await abort_with(context, exc)
                raise AssertionError("unreachable: abort raises") from exc

        return forward
