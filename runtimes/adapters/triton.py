"""NVIDIA Triton through its V2 repository API (start it with ``--model-control-mode=explicit``
and ``--model-repository`` = ``SERVER_REPOSITORY_DIR``).

Triton names a model after its directory, so each load writes ``<repository>/<model id>/``
(model ids must be usable as directory names) and calls
``POST /v2/repository/models/<id>/load``:

- a model directory in Triton's own layout (``config.pbtxt`` beside version directories):
  every entry linked, and ``config.pbtxt`` copied with its top-level ``name`` set to the
  model id (``with_model_name``);
- a single model file or directory (no ``config.pbtxt``): linked as version 1 under the
  file name Triton's backend for the model type expects (``BACKENDS``), with a
  ``config.pbtxt`` naming the model and the backend, the rest left to Triton's
  auto-complete.

Unload is ``POST .../unload`` (Triton finishes it in the background) and removes the
directory. Inference goes straight from the mesh to Triton's V2 gRPC.
"""

from __future__ import annotations

import re
from pathlib import Path

from modelmesh.runtimes.adapters.base import ModelFiles
from modelmesh.runtimes.adapters.repository import link
from modelmesh.runtimes.adapters.v2_repository import V2RepositoryAdapter
from modelmesh.runtimes.python.errors import InvalidRequest

CONFIG_FILE = "config.pbtxt"

# model type -> (Triton backend, the file name it loads inside a version directory)
BACKENDS = {
    "onnx": ("onnxruntime", "model.onnx"),
    "pytorch": ("pytorch", "model.pt"),
    "tensorflow": ("tensorflow", "model.savedmodel"),
    "tensorrt": ("tensorrt", "model.plan"),
}

# a top-level `name: "..."` (or '...') field of a text-format config, with its separator
_NAME_FIELD = re.compile(r"""name\s*:\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')\s*[;,]?""")


def with_model_name(config: str, name: str) -> str:
    """``config`` (protobuf text format) with its top-level ``name`` replaced by ``name``.

    Nested ``name`` fields (inputs, outputs, instance groups) are kept: the scan tracks
    braces and skips strings and comments. ``name`` must need no escaping.
    """
    out: list[str] = []
    depth, i, end = 0, 0, len(config)
    while i < end:
        char = config[i]
        if char in "\"'":
            close = _string_end(config, i)
            out.append(config[i:close])
            i = close
            continue
        if char == "#":
            close = config.find("\n", i)
            close = end if close < 0 else close
            out.append(config[i:close])
            i = close
            continue
        if char in "{[<":
            depth += 1
        elif char in "}]>":
            depth -= 1
        elif depth == 0 and not (i and (config[i - 1].isalnum() or config[i - 1] == "_")):
            field = _NAME_FIELD.match(config, i)
            if field:
                i = field.end()
                continue
        out.append(char)
        i += 1
    return f'name: "{name}"\n' + "".join(out)


def _string_end(text: str, start: int) -> int:
    quote_char, i = text[start], start + 1
    while i < len(text) and text[i] not in (quote_char, "\n"):
        i += 2 if text[i] == "\\" else 1
    return min(i + 1, len(text))


class TritonAdapter(V2RepositoryAdapter):
    display_name = "Triton"

    def write_layout(self, model: ModelFiles) -> Path:
        source = model.path
        native = source.is_dir() and (source / CONFIG_FILE).is_file()
        backend = None if native else BACKENDS.get(model.model_type)
        if not native and backend is None:
            raise InvalidRequest(
                f"model {model.model_id}: {source} is not a Triton model directory (no "
                f"{CONFIG_FILE}), and Triton has no known backend for model type "
                f"{model.model_type!r} (known: {', '.join(BACKENDS)})"
            )
        target = self._repository.fresh_dir(model.model_id, exact=True)
        if backend is None:
            for entry in source.iterdir():
                if entry.name != CONFIG_FILE:
                    link(entry, target / entry.name)
            config = (source / CONFIG_FILE).read_text(errors="replace")
            (target / CONFIG_FILE).write_text(with_model_name(config, model.model_id))
        else:
            name, file_name = backend
            link(source, target / "1" / file_name)
            (target / CONFIG_FILE).write_text(f'name: "{model.model_id}"\nbackend: "{name}"\n')
        return target
