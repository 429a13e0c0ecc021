"""Errors a client of the mesh can see, each with its gRPC status code.

    MeshError (INTERNAL)
    ├── InvalidArgument (INVALID_ARGUMENT)
    │   └── MissingModelId
    ├── ModelNotFound, VModelNotFound (NOT_FOUND)
    ├── AlreadyExists (ALREADY_EXISTS)
    ├── FailedPrecondition (FAILED_PRECONDITION)
    ├── CapacityExhausted (RESOURCE_EXHAUSTED)
    ├── LimitReached (RESOURCE_EXHAUSTED; a configured bound, named in the message)
    ├── NotHere (UNAVAILABLE; a forwarded request found no copy)
    ├── MethodNotServed (UNIMPLEMENTED)
    ├── NoEligibleInstance (FAILED_PRECONDITION)
    ├── LoadFailed (the runtime's code, INTERNAL by default)
    └── Unavailable (UNAVAILABLE)

Errors from the KV store and from runtimes are translated into these where they enter
(mesh/registry.py, mesh/loading.py); ``mesh/api/errors.py`` turns them into gRPC statuses.
"""

from __future__ import annotations

import grpc


class MeshError(Exception):
    """Base of every error a client can see."""

    code = grpc.StatusCode.INTERNAL
    # told to a forwarding peer (trailer ``mm-fault``) when the request may succeed
    # on another instance; None: the answer stands
    fault: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(MeshError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class MissingModelId(InvalidArgument):
    def __init__(self, method: str) -> None:
        super().__init__(
            f"no model id for {method}: set the mm-model-id or mm-vmodel-id header"
            " (or the request's model name field)"
        )


class ModelNotFound(MeshError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, model_id: str) -> None:
        super().__init__(f"model not found: {model_id!r} is not registered")


class VModelNotFound(MeshError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, vmodel_id: str) -> None:
        super().__init__(f"vmodel not found: {vmodel_id!r} is not defined")


class AlreadyExists(MeshError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(MeshError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class CapacityExhausted(MeshError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    fault = "no-room"


class LimitReached(MeshError):
    """A bound on requests or loads (``settings.LimitSettings``) is reached; another
    instance may have room."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    fault = "busy"

    def __init__(self, what: str, variable: str, limit: int) -> None:
        super().__init__(f"{what}: the limit of {limit} ({variable}) is reached; retry shortly")


class NotHere(MeshError):
    """A forwarded request reached an instance that no longer holds the model."""

    code = grpc.StatusCode.UNAVAILABLE
    fault = "not-here"

    def __init__(self, model_id: str, instance_id: str) -> None:
        super().__init__(f"model {model_id!r} is not loaded on instance {instance_id}")


class MethodNotServed(MeshError):
    code = grpc.StatusCode.UNIMPLEMENTED


class NoEligibleInstance(FailedPrecondition):
    def __init__(self, model_type: str) -> None:
        super().__init__(
            "There are no running instances that meet the label requirements of type "
            f"{model_type!r}"
        )


class LoadFailed(MeshError):
    """A load of the model failed; carries the runtime's own status code."""

    fault = "load-failed"

    def __init__(self, model_id: str, reason: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(f"failed to load model {model_id!r}: {reason}")
        self.reason = reason
        if code is not None:
            self.code = code


class Unavailable(MeshError):
    code = grpc.StatusCode.UNAVAILABLE
