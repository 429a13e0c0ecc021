"""ONNX models run by onnxruntime on the CPU, one intra-op thread per prediction.

Inputs are matched to the graph's by name, or by position when the names differ but the
counts agree (clients often send ``input-0``). Numbers are cast to the type the graph
declares, so an FP64 request reaches an FP32 graph. Outputs keep their graph names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

from modelmesh.runtimes.python.formats.base import Format, Model, TensorSpec
from modelmesh.runtimes.tensors import DATATYPES

logger = logging.getLogger(__name__)

# onnxruntime element type -> KServe V2 datatype
_V2_TYPES = {
    "bool": "BOOL",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "float16": "FP16",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
}


def _spec(node: Any) -> TensorSpec:
    element = node.type.removeprefix("tensor(").removesuffix(")")
    # non-tensor values (sequences, maps) keep onnxruntime's own type name
    datatype = _V2_TYPES.get(element, node.type)
    shape = tuple(dim if isinstance(dim, int) else -1 for dim in node.shape or ())
    return TensorSpec(node.name, datatype, shape)


class OnnxModel(Model):
    platform = "onnx"

    def __init__(self, session: onnxruntime.InferenceSession, file_bytes: int) -> None:
        self._session = session
        self._file_bytes = file_bytes
        self.inputs = tuple(_spec(node) for node in session.get_inputs())
        self.outputs = tuple(_spec(node) for node in session.get_outputs())
        self._output_names = [spec.name for spec in self.outputs]
        self._warm_up()

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        parameters: Mapping[str, Any],
        requested: Sequence[str],
    ) -> dict[str, np.ndarray]:
        names = [name for name in requested if name in self._output_names] or self._output_names
        try:
            results = self._session.run(names, self._feeds(inputs))
        except InvalidArgument as exc:
            raise ValueError(str(exc).removeprefix("[ONNXRuntimeError] : 2 : ")) from exc
        return dict(zip(names, results, strict=True))

    def _feeds(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if all(spec.name in inputs for spec in self.inputs):
            pairs = [(spec, inputs[spec.name]) for spec in self.inputs]
        elif len(inputs) == len(self.inputs):
            pairs = list(zip(self.inputs, inputs.values(), strict=True))
        else:
            wanted = ", ".join(spec.name for spec in self.inputs)
            raise ValueError(f"the model takes inputs {wanted}; got {', '.join(inputs) or 'none'}")
        return {spec.name: _as_graph_type(spec, array) for spec, array in pairs}

    def _warm_up(self) -> None:
        """One prediction on zeros, so the load's measurement sees the arena it grows."""
        feeds = {
            spec.name: np.zeros([max(dim, 1) for dim in spec.shape], DATATYPES[spec.datatype])
            for spec in self.inputs
            if spec.datatype in DATATYPES and spec.datatype != "BYTES"
        }
        if len(feeds) != len(self.inputs):
            return
        try:
            self._session.run(None, feeds)
        except Exception as exc:
            logger.warning("warm-up prediction on zeros failed: %s", exc)

    def held_bytes(self) -> int:
        # the graph and its initializers as read; onnxruntime's arena comes on top
        return self._file_bytes


def _as_graph_type(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    if spec.datatype == "BYTES":
        # onnxruntime takes str for string tensors; V2 BYTES arrive as bytes
        texts = [item.decode() if isinstance(item, bytes) else item for item in array.flat]
        return np.array(texts, dtype=object).reshape(array.shape)
    dtype = DATATYPES.get(spec.datatype)
    if dtype is None or array.dtype == dtype:
        return array
    if array.dtype.kind not in "biuf":
        raise ValueError(f"input {spec.name!r} must be numbers ({spec.datatype})")
    return array.astype(dtype)


def load(path: Path) -> OnnxModel:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return OnnxModel(session, path.stat().st_size)


FORMAT = Format(name="onnx", suffixes=(".onnx",), load=load, disk_factor=6.5)
