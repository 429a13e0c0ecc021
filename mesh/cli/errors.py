"""What a failed command says: one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import grpc

# Exit codes: success, the operation failed, the command line (or an input file) was wrong.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """The operation failed; ``main`` prints the message and exits with ``exit_code``."""

    exit_code = EXIT_FAILED


class UsageError(CommandError):
    """The arguments or the files they name are unusable (argparse's exit code)."""

    exit_code = EXIT_USAGE


# How gRPC core words a failure to connect or resolve, as opposed to an UNAVAILABLE
# status the mesh itself sent (e.g. a runtime that is not ready yet).
_UNREACHABLE = ("failed to connect", "errors resolving", "dns resolution failed")


def describe_rpc_error(error: grpc.RpcError, address: str) -> str:
    """One line for a failed call: the status code and the server's message."""
    code: grpc.StatusCode = error.code()
    details: str = error.details() or ""
    if code is grpc.StatusCode.UNAVAILABLE and details.lower().startswith(_UNREACHABLE):
        return f"cannot reach the mesh at {address}: is `modelmesh serve` running?"
    return f"{code.name}: {details}"
