"""``modelmesh``: the command line, parsed here and dispatched to one command.

Server commands (``serve``, ``runtime``) start long-running processes; the client commands
(``models.py``, ``vmodels.py``, ``predict.py``) talk to a running mesh over gRPC. Any
expected failure ends as one ``error: ...`` line on stderr and exit code 1 (2 for a bad
command line or input file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence

import grpc

from modelmesh.mesh.cli import models, predict, vmodels
from modelmesh.mesh.cli.connection import (
    DEFAULT_ADDRESS,
    DEFAULT_CALL_TIMEOUT,
    ClientTls,
    Connection,
    connect,
)
from modelmesh.mesh.cli.errors import EXIT_OK, CommandError, UsageError, describe_rpc_error

Handler = Callable[[argparse.Namespace], int]
ClientCommand = Callable[[argparse.Namespace, Connection], int]

# The shell's code for "stopped by Ctrl-C".
EXIT_INTERRUPTED = 130
JSON_HELP = "print statuses and lists as JSON"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelmesh", description="Run a model mesh, or manage and query a running one."
    )
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="run a mesh instance (embedded store by default)")
    serve.add_argument(
        "--demo", action="store_true", help="also train and register a demo model (demo-digits)"
    )
    serve.set_defaults(handler=_serve)
    runtime = commands.add_parser("runtime", help="run the built-in model runtime on its own")
    runtime.set_defaults(handler=_runtime)
    adapter = commands.add_parser(
        "adapter", help="run a ModelRuntime adapter in front of a third-party model server"
    )
    adapter.add_argument(
        "--server",
        required=True,
        choices=["mlserver", "triton", "torchserve", "tfserving"],
        help="the server it drives (endpoints and limits from the environment, see the README)",
    )
    adapter.set_defaults(handler=_adapter)
    controller = commands.add_parser(
        "controller", help="run the controller: InferenceServices into mesh registrations"
    )
    controller.set_defaults(handler=_controller)

    # Options every client command takes, after the command name too; SUPPRESS keeps a
    # --json given before the command from being reset by the subcommand's default.
    client = argparse.ArgumentParser(add_help=False)
    client.add_argument(
        "--address", default=DEFAULT_ADDRESS, help=f"the mesh's gRPC address ({DEFAULT_ADDRESS})"
    )
    client.add_argument(
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help=f"deadline of each call (default {DEFAULT_CALL_TIMEOUT:g}) and of a whole --wait "
        "(default: until the load ends)",
    )
    client.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=JSON_HELP)
    tls = client.add_argument_group("TLS (a mesh with MM_TLS_KEY_CERT_PATH set)")
    tls.add_argument(
        "--tls", action="store_true", help="use TLS, trusting the system's CA certificates"
    )
    tls.add_argument("--tls-ca", default="", metavar="PEM", help="CA the mesh's certificate has")
    tls.add_argument("--tls-cert", default="", metavar="PEM", help="client certificate")
    tls.add_argument("--tls-key", default="", metavar="PEM", help="the client certificate's key")

    _add_model_commands(commands, client)
    _add_vmodel_commands(commands, client)
    _add_predict_command(commands, client)
    return parser


def _add_predict_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    cmd = commands.add_parser(
        "predict", parents=[client], help="send a KServe V2 inference request"
    )
    cmd.add_argument("name", metavar="NAME", help="model or vmodel to call (model_name)")
    cmd.add_argument(
        "--input",
        required=True,
        metavar="SRC",
        help='JSON text, a .json file (V2 body {"inputs": [...]} or a bare array), or a .npy file',
    )
    route = cmd.add_mutually_exclusive_group()
    route.add_argument(
        "--model-id",
        dest="route",
        action="store_const",
        const="model",
        help="NAME is a model id (mm-model-id header)",
    )
    route.add_argument(
        "--vmodel",
        dest="route",
        action="store_const",
        const="vmodel",
        help="NAME is a vmodel id (mm-vmodel-id header)",
    )
    encoding = cmd.add_mutually_exclusive_group()
    encoding.add_argument(
        "--raw",
        dest="raw",
        action="store_true",
        default=True,
        help="send tensors as raw_input_contents (default)",
    )
    encoding.add_argument(
        "--typed", dest="raw", action="store_false", help="send tensors in typed contents fields"
    )
    cmd.add_argument(
        "--output",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME",
        help="ask for only these outputs",
    )
    cmd.set_defaults(handler=_client(predict.predict))


def _add_model_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    wait = argparse.ArgumentParser(add_help=False)
    wait.add_argument(
        "--wait", action="store_true", help="wait until loaded (exit 1 if loading fails)"
    )

    cmd = commands.add_parser(
        "register", parents=[client, wait], help="register a model (registerModel)"
    )
    cmd.add_argument("model_id", metavar="MODEL_ID")
    cmd.add_argument("--type", required=True, help="model type, e.g. sklearn, xgboost, onnx")
    cmd.add_argument("--path", default="", help="where the runtime finds the model")
    cmd.add_argument("--key", default="", help="opaque key passed to the runtime (storage)")
    cmd.add_argument("--load", action="store_true", help="load it now (implied by --wait)")
    cmd.set_defaults(handler=_client(models.register))

    cmd = commands.add_parser("unregister", parents=[client], help="unregister a model")
    cmd.add_argument("model_id", metavar="MODEL_ID")
    cmd.set_defaults(handler=_client(models.unregister))

    cmd = commands.add_parser(
        "status",
        parents=[client],
        help="the instances, or a model's status, copies and placement",
    )
    cmd.add_argument("model_id", metavar="MODEL_ID", nargs="?")
    cmd.set_defaults(handler=_client(models.status))

    cmd = commands.add_parser(
        "copies", parents=[client], help="set a model's minimum and maximum number of copies"
    )
    cmd.add_argument("model_id", metavar="MODEL_ID")
    cmd.add_argument("--min", type=int, default=0, help="copies kept loaded (default 0)")
    cmd.add_argument("--max", type=int, default=0, help="most copies (default 0: no cap)")
    cmd.set_defaults(handler=_client(models.copies))

    cmd = commands.add_parser(
        "ensure-loaded", parents=[client, wait], help="load a model if no copy is loaded"
    )
    cmd.add_argument("model_id", metavar="MODEL_ID")
    cmd.set_defaults(handler=_client(models.ensure_loaded))

    cmd = commands.add_parser("list", parents=[client], help="list models (or vmodels)")
    cmd.add_argument("--prefix", default="", help="only ids starting with this")
    cmd.add_argument("--vmodels", action="store_true", help="list vmodels instead of models")
    cmd.set_defaults(handler=_client(models.list_models))


def _add_vmodel_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], client: argparse.ArgumentParser
) -> None:
    group = commands.add_parser("vmodel", help="manage vmodels (stable names over models)")
    actions = group.add_subparsers(title="actions", metavar="ACTION", required=True)
    owned = argparse.ArgumentParser(add_help=False)
    owned.add_argument("vmodel_id", metavar="VMODEL_ID")
    owned.add_argument("--owner", default="", help="the vmodel's owner (namespace of ids)")

    cmd = actions.add_parser(
        "set", parents=[client, owned], help="create a vmodel or point it at a new target"
    )
    cmd.add_argument("--target", required=True, metavar="MODEL_ID", help="the target model")
    cmd.add_argument("--type", default="", help="register the target with this model type")
    cmd.add_argument("--path", default="", help="the target's path (with --type)")
    cmd.add_argument("--key", default="", help="the target's key (with --type)")
    cmd.add_argument(
        "--auto-delete", action="store_true", help="delete the target once unreferenced"
    )
    cmd.add_argument("--load", action="store_true", help="load the target now")
    cmd.add_argument("--force", action="store_true", help="switch at once, without waiting")
    cmd.add_argument("--update-only", action="store_true", help="fail if the vmodel is new")
    cmd.add_argument(
        "--expected-target",
        default="",
        metavar="MODEL_ID",
        help="only if the current target is this (compare-and-set)",
    )
    cmd.add_argument(
        "--wait",
        action="store_true",
        help="wait until the transition ends and the model is loaded (implies --load)",
    )
    cmd.set_defaults(handler=_client(vmodels.set_vmodel))

    cmd = actions.add_parser("delete", parents=[client, owned], help="delete a vmodel")
    cmd.set_defaults(handler=_client(vmodels.delete_vmodel))

    cmd = actions.add_parser("status", parents=[client, owned], help="a vmodel's status")
    cmd.set_defaults(handler=_client(vmodels.vmodel_status))


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 seconds")
    return value


def _client(command: ClientCommand) -> Handler:
    """Run ``command`` with a channel to ``--address``; a failed call becomes one line."""

    def run(args: argparse.Namespace) -> int:
        tls = None
        if args.tls or args.tls_ca or args.tls_cert or args.tls_key:
            tls = ClientTls(args.tls_ca, args.tls_cert, args.tls_key)
        with connect(args.address, args.timeout, tls) as conn:
            try:
                return command(args, conn)
            except grpc.RpcError as exc:
                raise CommandError(describe_rpc_error(exc, args.address)) from None

    return run


def _serve(args: argparse.Namespace) -> int:
    # imported here: `modelmesh status` should not pay for the server's imports
    from modelmesh.mesh.app import serve_forever
    from modelmesh.mesh.errors import MeshError
    from modelmesh.mesh.settings import Settings

    try:
        settings = Settings.from_env(os.environ)
    except ValueError as exc:  # a bad environment variable, named in the message
        raise UsageError(str(exc)) from None
    try:
        asyncio.run(serve_forever(settings, demo=args.demo))
    except MeshError as exc:  # cannot start: port in use, runtime never ready, ...
        raise CommandError(exc.message) from None
    except ValueError as exc:  # a setting found unusable only on use (KV_STORE's file, ...)
        raise UsageError(str(exc)) from None
    return EXIT_OK


def _runtime(args: argparse.Namespace) -> int:
    from modelmesh.runtimes.python.server import serve_forever
    from modelmesh.runtimes.python.settings import RuntimeSettings

    try:
        settings = RuntimeSettings.from_env(os.environ)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    asyncio.run(serve_forever(settings))
    return EXIT_OK


def _adapter(args: argparse.Namespace) -> int:
    from modelmesh.runtimes.adapters.server import serve_forever
    from modelmesh.runtimes.adapters.settings import AdapterSettings

    try:
        settings = AdapterSettings.from_env(os.environ, args.server)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    asyncio.run(serve_forever(settings))
    return EXIT_OK


def _controller(args: argparse.Namespace) -> int:
    from modelmesh.controller.main import LeadershipLost, run_forever
    from modelmesh.controller.settings import ControllerSettings

    try:
        settings = ControllerSettings.from_env(os.environ)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        asyncio.run(run_forever(settings))
    except LeadershipLost as exc:  # another replica leads now: exit, to be restarted
        raise CommandError(str(exc)) from None
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
