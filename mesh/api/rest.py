"""KServe V2 over HTTP/JSON on port 8008, mapped onto the same routing as gRPC.

Each model call becomes the V2 gRPC message it stands for and goes through
``Router.invoke`` without routing headers, so ``{name}`` is resolved as a vmodel, else a
model, exactly like a gRPC client that sets only ``model_name``; the reply is turned back
into JSON. The server-level calls are answered here. JSON <-> tensors: ``runtimes/v2json``.

    GET  /v2                                          server metadata
    GET  /v2/health/live, /v2/health/ready            200, or 400 when not ready (V2: 4xx)
    GET  /v2/models/{name}[/versions/{v}]             model metadata
    GET  /v2/models/{name}[/versions/{v}]/ready       200 when a copy is loaded, else 400
    POST /v2/models/{name}[/versions/{v}]/infer       inference

Errors are ``{"error": "..."}`` with the HTTP status grpc-gateway (upstream's rest-proxy)
gives the gRPC code; a body over ``MM_SVC_GRPC_MAX_MSG_SIZE`` is 413.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import DecodeError, Message

from ...protos import grpc_predict_v2_pb2 as v2
from ...runtimes.tensors import TensorError, raw_bytes, response_arrays
from ...runtimes.v2json import (
    InferBody,
    V2JsonError,
    infer_request,
    parse_infer_body,
    response_json,
)
from ..errors import MeshError, ModelNotFound
from ..forwarding import Router, Target
from ..runtime.client import RuntimeCallError

log = logging.getLogger(__name__)

_V2 = "/inference.GRPCInferenceService/"
# the binary data extension: length of the JSON part when binary data follow it
HEADER_LENGTH = "Inference-Header-Content-Length"

# grpc-gateway's mapping (runtime.HTTPStatusFromCode)
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


class RestError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every failure as V2 error JSON with its status; nothing escapes as a bare 500."""
    try:
        return await handler(request)
    except RestError as exc:
        return error_response(exc.status, exc.message)
    except (MeshError, RuntimeCallError) as exc:
        return error_response(HTTP_STATUS.get(exc.code, 500), exc.message)
    except web.HTTPRequestEntityTooLarge as exc:
        limit = request.app[_MAX_BODY]
        return error_response(
            413, f"the request body is larger than the limit of {limit} bytes ({exc.text})"
        )
    except web.HTTPException as exc:  # no such route, wrong method
        return error_response(exc.status, exc.reason)
    except Exception as exc:
        log.exception("REST %s %s failed", request.method, request.path)
        return error_response(500, f"internal error: {exc}")


_MAX_BODY = web.AppKey("max_body", int)


def rest_app(
    router: Router,
    *,
    max_body_bytes: int,
    version: str,
    ready: Callable[[], Awaitable[bool]],
) -> web.Application:
    """The V2 REST application; ``ready`` says whether the server is ready."""
    app = web.Application(middlewares=[_errors], client_max_size=max_body_bytes)
    app[_MAX_BODY] = max_body_bytes
    metadata = {"name": "modelmesh", "version": version, "extensions": ["binary_tensor_data"]}

    async def server_metadata(_: web.Request) -> web.Response:
        return web.json_response(metadata)

    async def live(_: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def server_ready(_: web.Request) -> web.Response:
        ok = await ready()
        return web.json_response({"ready": ok}, status=200 if ok else 400)

    async def call(method: str, request: Message, reply_type: type[Message]) -> Any:
        reply = await router.invoke(_V2 + method, request.SerializeToString(), ())
        try:
            return reply_type.FromString(reply)
        except DecodeError as exc:
            raise RestError(502, f"the runtime's {method} reply is unreadable: {exc}") from None

    async def model_metadata(request: web.Request) -> web.Response:
        name, version = _model(request)
        reply = await call(
            "ModelMetadata",
            v2.ModelMetadataRequest(name=name, version=version),
            v2.ModelMetadataResponse,
        )
        return web.json_response(_metadata_json(reply))

    async def model_ready(request: web.Request) -> web.Response:
        # answered from the registry: asking the runtime would load the model, and a
        # health checker polling many models would churn the cache
        name, _ = _model(request)
        model_id = router.resolve(Target(name, is_vmodel=True, either=True))
        record = router.registry.models.get(model_id)
        if record is None:
            raise ModelNotFound(model_id)
        ready = bool(record.loaded_in)
        return web.json_response({"name": name, "ready": ready}, status=200 if ready else 400)

    async def infer(request: web.Request) -> web.Response:
        name, version = _model(request)
        body = await _infer_body(request)
        reply = await call("ModelInfer", infer_request(name, version, body), v2.ModelInferResponse)
        try:
            arrays = response_arrays(reply)
        except TensorError as exc:
            raise RestError(
                502, f"the reply of model {reply.model_name!r} is malformed: {exc}"
            ) from None
        wanted = {out.name for out in body.outputs if out.binary}
        blobs = {
            tensor.name: raw_bytes(arrays[tensor.name])
            for tensor in reply.outputs
            if body.binary_outputs or tensor.name in wanted
        }
        doc = response_json(reply, arrays, binary={n: len(b) for n, b in blobs.items()})
        if not blobs:
            return web.json_response(doc)
        header = json.dumps(doc).encode()
        return web.Response(
            body=header + b"".join(blobs.values()),
            content_type="application/octet-stream",
            headers={HEADER_LENGTH: str(len(header))},
        )

    add = app.router.add_route
    add("GET", "/v2", server_metadata)
    add("GET", "/v2/health/live", live)
    add("GET", "/v2/health/ready", server_ready)
    for base in ("/v2/models/{name}", "/v2/models/{name}/versions/{version}"):
        add("GET", base, model_metadata)
        add("GET", base + "/ready", model_ready)
        add("POST", base + "/infer", infer)
    return app


def _model(request: web.Request) -> tuple[str, str]:
    return request.match_info["name"], request.match_info.get("version", "")


async def _infer_body(request: web.Request) -> InferBody:
    raw = await request.read()
    header_length = request.headers.get(HEADER_LENGTH)
    binary = b""
    if header_length is not None:
        try:
            length = int(header_length)
        except ValueError:
            length = -1
        if not 0 <= length <= len(raw):
            raise RestError(
                400, f"{HEADER_LENGTH}: {header_length!r} is not a length within the body"
            )
        raw, binary = raw[:length], raw[length:]
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RestError(400, f"the request body is not valid JSON: {exc}") from None
    try:
        return parse_infer_body(doc, binary)
    except V2JsonError as exc:
        raise RestError(400, str(exc)) from None


def _metadata_json(reply: v2.ModelMetadataResponse) -> dict[str, Any]:
    def tensors(specs: Any) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in specs]

    return {
        "name": reply.name,
        "versions": list(reply.versions),
        "platform": reply.platform,
        "inputs": tensors(reply.inputs),
        "outputs": tensors(reply.outputs),
    }
