"""``predict``: one KServe V2 ModelInfer call through the mesh, the outputs printed as JSON.

Without --model-id or --vmodel only ``model_name`` is set and the mesh resolves it (as
upstream's dataplane config does: a vmodel of that name, else a model); the flags pin the
meaning with the ``mm-model-id``/``mm-vmodel-id`` routing headers.
"""

from __future__ import annotations

import argparse
import json

from modelmesh.mesh.cli.connection import Connection
from modelmesh.mesh.cli.errors import EXIT_OK, CommandError
from modelmesh.mesh.cli.inputs import load_inputs
from modelmesh.runtimes.tensors import TensorError, build_infer_request, response_arrays
from modelmesh.runtimes.v2json import response_json


def predict(args: argparse.Namespace, conn: Connection) -> int:
    inputs = load_inputs(args.input)
    request = build_infer_request(args.name, inputs.tensors, raw=args.raw)
    for name in dict.fromkeys([*inputs.outputs, *args.output]):
        request.outputs.add(name=name)
    response = conn.inference().ModelInfer(
        request, metadata=routing_metadata(args.route, args.name), timeout=conn.call_timeout
    )
    try:
        arrays = response_arrays(response)
    except TensorError as exc:
        raise CommandError(
            f"the reply of model {response.model_name!r} is malformed: {exc}"
        ) from None
    print(json.dumps(response_json(response, arrays)))
    return EXIT_OK


def routing_metadata(route: str | None, name: str) -> list[tuple[str, str | bytes]]:
    """The header naming the model (route "model") or vmodel (route "vmodel"), if any."""
    if route is None:
        return []
    key = f"mm-{route}-id"
    # gRPC text headers carry printable ASCII only; the -bin variant takes UTF-8 bytes
    if name.isascii() and name.isprintable():
        return [(key, name)]
    return [(f"{key}-bin", name.encode())]
