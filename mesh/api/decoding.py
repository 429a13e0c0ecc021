"""The mesh's own gRPC services with request parsing that answers bad bytes properly.

grpc's generated ``add_*Servicer_to_server`` parse each request before the servicer runs,
and a request that is not the message it should be ends as UNKNOWN with a traceback in
the log. ``parsed_service`` serves the same servicer methods but parses the bytes itself:
a malformed request is INVALID_ARGUMENT naming the message it should have been. Only the
ModelMesh API services go through here; inference requests stay bytes (``inference.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

Behaviour = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def parsed_service(service: ServiceDescriptor, servicer: object) -> grpc.GenericRpcHandler:
    """A handler for every (unary) method of ``service``, served by ``servicer``."""
    handlers = {}
    for method in service.methods:
        request_type = GetMessageClass(method.input_type)
        response_type = GetMessageClass(method.output_type)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _parsing(getattr(servicer, method.name), request_type),
            response_serializer=response_type.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(service.full_name, handlers)


def _parsing(behaviour: Behaviour, request_type: Any) -> Behaviour:
    name = request_type.DESCRIPTOR.full_name

    async def handle(body: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            request = request_type.FromString(body)
        except DecodeError as exc:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid {name}: {exc}"
            )
        return await behaviour(request, context)

    return handle
