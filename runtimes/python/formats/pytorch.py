"""PyTorch TorchScript models (``torch.jit.trace`` or ``torch.jit.script``, then
``torch.jit.save``), run on the CPU in inference mode.

PyTorch is optional: ``pip install 'modelmesh[pytorch]'`` installs torch 2.13.0, whose
CPU build this machine kind keeps on disk. It is imported by the first load, before that
load is measured (importing torch allocates far more than a small model); without it a
load fails with FAILED_PRECONDITION naming the extra. torch's own intra-op pool is set to
one thread, for the reason ``threads.py`` gives.

Inputs go to ``forward`` by name when the request's names are its argument names, else by
position in request order. Outputs: a tensor is ``output-0``; a tuple or list of tensors
``output-<i>``; a dict of tensors keeps its keys. TorchScript archives hold no pickled
Python code, unlike ``torch.save`` files, which this format does not read.

Measured per loaded copy (``sizing.py``): an 8 KB linear digits model holds 47 KB, a 1.2 MB
MLP (64x512x512x10) 1.3 MB; ``disk_factor`` 2 sits between the two.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelmesh.runtimes.python.errors import FormatUnavailable
from modelmesh.runtimes.python.formats.base import Format, Model

INSTALL_HINT = "pip install 'modelmesh[pytorch]' (torch==2.13.0, the CPU build)"


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise FormatUnavailable(
            f"pytorch models need PyTorch, which is not installed: {INSTALL_HINT}"
        ) from None
    return torch


def prepare() -> None:
    """Import torch (once; later calls are free) and hold its pool to one thread."""
    torch = _torch()
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


class TorchScriptModel(Model):
    platform = "pytorch_torchscript"

    def __init__(self, module: Any, file_bytes: int) -> None:
        self._module = module
        self._file_bytes = file_bytes
        self._arguments = [argument.name for argument in module.forward.schema.arguments[1:]]

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        parameters: Mapping[str, Any],
        requested: Sequence[str],
    ) -> dict[str, np.ndarray]:
        torch = _torch()
        if set(inputs) == set(self._arguments):
            arrays = [inputs[name] for name in self._arguments]
        elif len(inputs) == len(self._arguments):
            arrays = list(inputs.values())
        else:
            raise ValueError(
                f"the model's forward takes {', '.join(self._arguments) or 'no inputs'}; "
                f"got {', '.join(inputs) or 'none'}"
            )
        if any(array.dtype == object for array in arrays):
            raise ValueError("pytorch models take numeric tensors, not BYTES")
        with torch.inference_mode():
            try:
                result = self._module(*(torch.from_numpy(np.array(a)) for a in arrays))
            except RuntimeError as exc:  # shapes and dtypes the graph cannot take
                raise ValueError(str(exc).strip().splitlines()[-1]) from exc
        return _outputs(torch, result)

    def held_bytes(self) -> int:
        # parameters, buffers and code as saved; the heap measurement adds what torch grows
        return self._file_bytes


def _outputs(torch: Any, result: Any) -> dict[str, np.ndarray]:
    if isinstance(result, torch.Tensor):
        named = {"output-0": result}
    elif isinstance(result, list | tuple):
        named = {f"output-{i}": tensor for i, tensor in enumerate(result)}
    elif isinstance(result, dict):
        named = {str(name): tensor for name, tensor in result.items()}
    else:
        raise TypeError(f"forward returned a {type(result).__name__}, not tensors")
    arrays = {}
    for name, tensor in named.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"output {name!r} is a {type(tensor).__name__}, not a tensor")
        if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
            tensor = tensor.float()
        arrays[name] = tensor.detach().cpu().numpy()
    return arrays


def load(path: Path) -> TorchScriptModel:
    torch = _torch()
    module = torch.jit.load(str(path), map_location="cpu")
    module.eval()
    return TorchScriptModel(module, path.stat().st_size)


FORMAT = Format(
    name="pytorch",
    suffixes=(".pt", ".pth", ".torchscript"),
    load=load,
    disk_factor=2.0,
    prepare=prepare,
)
