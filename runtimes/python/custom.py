"""Custom Python models: write a class, name it in a setting, serve it like any format.

Subclass ``CustomModel``, implement ``load`` and ``predict``, and make the class importable
by the runtime (install your package into its environment). Then map a model type to it::

    MM_CUSTOM_MODEL_CLASSES="keyword-counter=mymodels.text:KeywordCounter,other=pkg.mod:Cls"

A model registered with that type (``modelType``, or ``mt:keyword-counter``) is served by a
fresh instance of the class: the runtime calls ``load(path)`` in a loading thread, then
``predict(inputs, parameters)`` for each request, possibly from several threads at once.
Code is only ever imported from the setting, never from a model's directory: model files
come from cluster users, classes from whoever configures the runtime.

A complete example, ``mymodels/text.py``::

    from pathlib import Path

    import numpy as np

    from modelmesh.runtimes.python.custom import CustomModel


    class KeywordCounter(CustomModel):
        # counts, per input text, how many of the model's keywords it contains

        def load(self, path: Path) -> None:
            # ``path`` is the model's file or directory, inside the models root
            words = (path / "keywords.txt" if path.is_dir() else path).read_text()
            self.keywords = set(words.split())

        def predict(
            self, inputs: dict[str, np.ndarray], parameters: dict
        ) -> dict[str, np.ndarray]:
            texts = inputs["text"]  # a BYTES tensor arrives as an object array of bytes
            counts = [len(self.keywords & set(t.decode().split())) for t in texts.flat]
            return {"count": np.array(counts, dtype=np.int64).reshape(texts.shape)}

        def size_bytes(self) -> int:  # optional
            return sum(len(word) + 50 for word in self.keywords)

Rules the runtime applies around your code:

- ``inputs`` maps each request input's name to its array (BYTES as object arrays of
  ``bytes``); ``parameters`` maps request parameter names to bool, int or str.
- Return a dict of output name to array (any dtype the KServe V2 protocol has; str arrays
  become BYTES). When the request names outputs, only those are sent, and naming one you did
  not return is INVALID_ARGUMENT.
- Raise ``ValueError`` (or ``TypeError``) for input your model cannot take: the caller
  gets INVALID_ARGUMENT with your message. Any other exception is INTERNAL, logged with
  its traceback. A failing ``load`` makes the load fail with your message.
- ``size_bytes`` is optional; without it the runtime measures the load (see ``sizing.py``)
  and, if the instance pickles, its pickled size.
- The optional ``inputs``/``outputs`` class attributes (tuples of ``TensorSpec``) are what
  ``ModelMetadata`` reports.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelmesh.runtimes.python.formats.base import Model, TensorSpec
from modelmesh.runtimes.python.sizing import object_bytes


class CustomModel(ABC):
    """Base of custom Python models; see the module docstring for a complete example."""

    inputs: ClassVar[tuple[TensorSpec, ...]] = ()
    outputs: ClassVar[tuple[TensorSpec, ...]] = ()

    @abstractmethod
    def load(self, path: Path) -> None:
        """Read the model from ``path`` (a file or directory inside the models root)."""

    @abstractmethod
    def predict(self, inputs: dict[str, np.ndarray], parameters: dict) -> dict[str, np.ndarray]:
        """Outputs by name for ``inputs`` by name; raise ValueError for bad input."""

    def size_bytes(self) -> int | None:
        """Bytes the loaded model holds, if you know better than the runtime's measurement."""
        return None


class CustomAdapter(Model):
    """A loaded ``CustomModel`` behind the runtime's ``Model`` interface."""

    platform = "custom"

    def __init__(self, model: CustomModel) -> None:
        self._model = model
        self.inputs = model.inputs
        self.outputs = model.outputs

    def predict(
        self,
        inputs: Mapping[str, np.ndarray],
        parameters: Mapping[str, Any],
        requested: Sequence[str],
    ) -> dict[str, np.ndarray]:
        return self._model.predict(dict(inputs), dict(parameters))

    def held_bytes(self) -> int:
        declared = self._model.size_bytes()
        if declared is not None:
            return declared
        try:
            return object_bytes(self._model)
        except Exception:  # unpicklable in one of many ways: the heap measurement decides
            return 0


def load_custom(cls: type[CustomModel], path: Path) -> CustomAdapter:
    model = cls()
    model.load(path)
    return CustomAdapter(model)


def import_classes(targets: Mapping[str, str]) -> dict[str, type[CustomModel]]:
    """Model type -> class, from ``"package.module:ClassName"`` targets; fails loudly."""
    classes = {}
    for model_type, target in targets.items():
        module_name, _, class_name = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise ValueError(
                f"MM_CUSTOM_MODEL_CLASSES: cannot import {target} for model type "
                f"{model_type!r}: {exc}"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, CustomModel)):
            raise ValueError(
                f"MM_CUSTOM_MODEL_CLASSES: {target} (model type {model_type!r}) is not a "
                "subclass of modelmesh.runtimes.python.custom.CustomModel"
            )
        classes[model_type] = cls
    return classes
