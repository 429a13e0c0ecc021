"""The built-in Python runtime's core: loaded models, their loads and sizes, and inference.

No gRPC in here: ``servicers.py`` serves it as ``ModelRuntime`` + KServe V2 for a mesh in
another process, and ``inprocess.py`` lets a mesh in this process call it directly.

A load picks the format by the model type (``formats/`` or a custom class, ``custom.py``) and
finds the model: a model in storage (a storage key in ``modelKey`` or a URI in ``modelPath``)
is pulled first into the runtime's cache (``modelmesh.runtimes.storage``) and removed again
on unload; any other ``modelPath`` resolves inside the models root (``paths.py``). Then a
loading thread reads and measures the model (``sizing.py``), native thread pools held at
one thread (``threads.py``). Loads of one model id share one attempt; at most
``loading_concurrency`` run at once, and each must finish within ``loading_timeout_ms``,
queueing included, or it fails with DEADLINE_EXCEEDED and registers nothing. Every failure
is a ``RuntimeFailure`` carrying its gRPC code (``errors.py``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelmesh import __version__
from modelmesh.protos import grpc_predict_v2_pb2 as v2
from modelmesh.runtimes.model_types import model_type_name
from modelmesh.runtimes.python import sizing
from modelmesh.runtimes.python.custom import import_classes, load_custom
from modelmesh.runtimes.python.errors import (
    FormatRefused,
    InvalidRequest,
    LoadFailed,
    LoadTimedOut,
    ModelFileMissing,
    ModelNotLoaded,
    PullFailed,
    RuntimeFailure,
    describe,
)
from modelmesh.runtimes.python.formats import BUILT_IN, Format, Model, TensorSpec
from modelmesh.runtimes.python.paths import find_model_file, resolve_model_path
from modelmesh.runtimes.python.predicting import PredictionTimes, predict
from modelmesh.runtimes.python.pulling import LazyPuller
from modelmesh.runtimes.python.settings import RuntimeSettings
from modelmesh.runtimes.python.single_load import load_once
from modelmesh.runtimes.python.threads import NativeThreads
from modelmesh.runtimes.storage import (
    MountedPath,
    Source,
    StorageConfig,
    StorageError,
    locate,
)
from modelmesh.runtimes.storage.files import disk_bytes
from modelmesh.runtimes.tensors import TensorError, fill_response, request_arrays

logger = logging.getLogger(__name__)

# The KServe V2 methods served, and where in their requests the mesh writes the model id
# (field 1: ModelInferRequest.model_name, ModelMetadataRequest.name).
METHOD_INFOS: Mapping[str, tuple[int, ...]] = {
    "inference.GRPCInferenceService/ModelInfer": (1,),
    "inference.GRPCInferenceService/ModelMetadata": (1,),
}

# Memory per byte on disk guessed for custom models (upstream's adapters use the same).
CUSTOM_DISK_FACTOR = 1.25

# Where a model is: a local path under the models root, or in storage.
Place = Path | Source | MountedPath


@dataclass(frozen=True)
class RuntimeStatus:
    capacity_bytes: int
    max_loading_concurrency: int
    loading_timeout_ms: int
    default_model_size: int
    version: str
    method_infos: Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class LoadedModel:
    model: Model
    size_bytes: int
    times: PredictionTimes = field(default_factory=PredictionTimes)


class PythonRuntime:
    """Loads, sizes, serves and unloads models; safe to share within one event loop."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self._settings = settings
        custom = import_classes(settings.custom_model_classes)
        clashes = sorted(set(custom) & set(BUILT_IN))
        if clashes:
            raise ValueError(
                f"MM_CUSTOM_MODEL_CLASSES: {', '.join(clashes)} would replace built-in formats"
            )
        self._formats: dict[str, Format] = {
            **BUILT_IN,
            **{
                name: Format(name, (), functools.partial(load_custom, cls), CUSTOM_DISK_FACTOR)
                for name, cls in custom.items()
            },
        }
        # formats whose files run code when read, unless allowed: not served, and named so
        self._refused: set[str] = set()
        if not settings.allow_pickle:
            self._refused = {name for name, fmt in self._formats.items() if fmt.runs_code}
            for name in self._refused:
                del self._formats[name]
        self._models: dict[str, LoadedModel] = {}
        self._loading: dict[str, asyncio.Task[LoadedModel]] = {}
        # The pool is the concurrency bound: a load waits for one of its threads. A load that
        # timed out keeps its thread until the library returns (Python cannot stop it), so
        # the bound counts the loads really running, not just those still awaited.
        self._load_threads = ThreadPoolExecutor(
            max_workers=settings.loading_concurrency, thread_name_prefix="model-load"
        )
        # Libraries predict with the GIL released: one thread per core keeps them all busy.
        self._predict_threads = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix="predict"
        )
        self._native_threads = NativeThreads()
        self._storage = StorageConfig(settings.storage_config_dir)
        self._puller = LazyPuller(
            settings.model_cache_dir,
            timeout_ms=settings.pull_timeout_ms,
            threads=settings.loading_concurrency,
        )

    @property
    def model_types(self) -> tuple[str, ...]:
        """The model types served: built-in formats, then custom types."""
        return tuple(self._formats)

    def status(self) -> RuntimeStatus:
        settings = self._settings
        return RuntimeStatus(
            capacity_bytes=settings.capacity_bytes,
            max_loading_concurrency=settings.loading_concurrency,
            loading_timeout_ms=settings.loading_timeout_ms,
            default_model_size=settings.default_model_size,
            version=f"modelmesh-python-runtime/{__version__}",
            method_infos=METHOD_INFOS,
        )

    # ------------------------------------------------------------ loading

    async def load(self, model_id: str, model_type: str, model_path: str, model_key: str) -> int:
        """Load the model (if not loaded already) and return its measured size in bytes."""
        if model_id in self._models:
            return self._models[model_id].size_bytes
        loaded = await load_once(
            self._loading,
            model_id,
            lambda: self._load(model_id, *self._plan(model_type, model_path, model_key)),
        )
        return loaded.size_bytes

    def _plan(self, model_type: str, model_path: str, model_key: str) -> tuple[Format, Place]:
        """The format and the place of a model, or an error; reads no model file."""
        name = model_type_name(model_type, model_key)
        fmt = self._formats.get(name)
        if name in self._refused:
            raise FormatRefused(
                f"model type {model_type!r}: {name} models are read with pickle, which runs "
                "code from the model file; this runtime does not read them "
                "(RUNTIME_ALLOW_PICKLE=false)"
            )
        if fmt is None:
            raise InvalidRequest(
                f"unsupported model type {model_type!r}; this runtime serves "
                f"{', '.join(self._formats)}"
            )
        settings = self._settings
        try:
            place = locate(model_path, model_key, self._storage, pvc_mounts=settings.pvc_mounts_dir)
        except StorageError as exc:
            raise PullFailed(f"cannot locate the model: {exc.message}", exc.code) from None
        return fmt, place or resolve_model_path(settings.models_root, model_path)

    async def _load(self, model_id: str, fmt: Format, place: Place) -> LoadedModel:
        timeout_ms = self._settings.loading_timeout_ms
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        path, root, stage = place, self._settings.models_root, "loading"
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                if not isinstance(path, Path):
                    stage = "pulling"
                    pulled = await self._puller.pull(model_id, path)
                    path, root, stage = pulled.path, pulled.root, "loading"
                loaded = await loop.run_in_executor(
                    self._load_threads, self._load_blocking, fmt, path, root
                )
        except BaseException as exc:
            if not isinstance(place, Path):
                # its files go in the background (we may be cancelled); a retry pulls afresh
                self._puller.discard(model_id)
            if isinstance(exc, TimeoutError):
                where = path if isinstance(path, Path) else describe_place(path)
                raise LoadTimedOut(
                    f"{stage} {fmt.name} model {model_id} from {where} took longer than "
                    f"{timeout_ms} ms (LOADTIME_TIMEOUT)"
                ) from None
            raise
        self._models[model_id] = loaded
        logger.info(
            "loaded %s model %s from %s in %.0f ms: %d bytes",
            fmt.name,
            model_id,
            path,
            (time.monotonic() - started) * 1000,
            loaded.size_bytes,
        )
        return loaded

    def _load_blocking(self, fmt: Format, path: Path, root: Path) -> LoadedModel:
        """Runs in a loading thread: find the file, load it, measure it."""
        source = self._source(fmt, path, root)
        native_threads = self._native_threads
        native_threads.limit_here()
        if fmt.prepare is not None:
            fmt.prepare()
            native_threads.refresh()
            native_threads.limit_here()
        with sizing.HeapProbe() as probe:
            try:
                model = fmt.load(source)
            except RuntimeFailure:
                raise
            except Exception as exc:
                raise LoadFailed(
                    f"failed to load {fmt.name} model from {source}: {describe(exc)}"
                ) from exc
        native_threads.refresh()  # the model may have brought a library of its own
        return LoadedModel(model, sizing.measured_bytes(model.held_bytes(), probe.delta))

    def _source(self, fmt: Format, path: Path, root: Path) -> Path:
        """The file to load; custom models get the path as given."""
        if fmt.suffixes:
            return find_model_file(root, path, fmt.name, fmt.suffixes)
        if not path.exists():
            raise ModelFileMissing(f"{fmt.name} model path {path} does not exist")
        return path

    async def unload(self, model_id: str) -> None:
        """Forget the model, or abandon its load, and delete its pulled copy; a no-op for an
        unknown id."""
        task = self._loading.pop(model_id, None)
        if task is not None:
            task.cancel()
        if self._models.pop(model_id, None) is not None:
            logger.info("unloaded model %s", model_id)
        await self._puller.remove(model_id)

    async def purge(self) -> None:
        """Unload everything (upstream runtimes do so when asked for their status)."""
        for model_id in [*self._loading, *self._models]:
            await self.unload(model_id)

    async def model_size(self, model_id: str) -> int:
        return self._loaded(model_id).size_bytes

    def predict_size(self, model_id: str, model_type: str, model_path: str, model_key: str) -> int:
        """A cheap guess of a model's size before loading it: size on disk x the format's
        factor; 0 (unknown) for a model in storage not pulled yet."""
        fmt, place = self._plan(model_type, model_path, model_key)
        if isinstance(place, Source):
            pulled = self._puller.pulled(model_id)
            if pulled is None:
                return 0
            place = MountedPath(pulled.path, pulled.root)
        if isinstance(place, MountedPath):
            path, root = place.path, place.root
        else:
            path, root = place, self._settings.models_root
        return sizing.predicted_bytes(disk_bytes(self._source(fmt, path, root)), fmt.disk_factor)

    async def close(self) -> None:
        """Drop every model and stop the threads (without waiting for running work)."""
        await self.purge()
        await self._puller.close()
        self._load_threads.shutdown(wait=False, cancel_futures=True)
        self._predict_threads.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ serving

    def is_loaded(self, model_id: str) -> bool:
        return model_id in self._models

    def model_metadata(self, model_id: str) -> v2.ModelMetadataResponse:
        loaded = self._loaded(model_id)
        return v2.ModelMetadataResponse(
            name=model_id,
            platform=loaded.model.platform,
            inputs=[_tensor_metadata(spec) for spec in loaded.model.inputs],
            outputs=[_tensor_metadata(spec) for spec in loaded.model.outputs],
        )

    async def infer(self, request: v2.ModelInferRequest) -> v2.ModelInferResponse:
        """Predict with ``request.model_name``; the reply is raw if the request was."""
        loaded = self._loaded(request.model_name)
        try:
            inputs = request_arrays(request)
        except TensorError as exc:
            raise InvalidRequest(str(exc)) from None
        parameters = {
            key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
            for key, value in request.parameters.items()
        }
        call = functools.partial(
            self._predict,
            request.model_name,
            loaded.model,
            loaded.times,
            inputs,
            parameters,
            [output.name for output in request.outputs],
        )
        if loaded.times.runs_inline(sum(array.nbytes for array in inputs.values())):
            outputs = call()  # cheaper than a thread hop; see predicting.py
        else:
            outputs = await asyncio.get_running_loop().run_in_executor(self._predict_threads, call)
        response = v2.ModelInferResponse(
            model_name=request.model_name, model_version=request.model_version, id=request.id
        )
        try:
            fill_response(response, outputs, raw=bool(request.raw_input_contents))
        except TensorError as exc:
            raise RuntimeFailure(
                f"model {request.model_name} gave an output V2 cannot carry: {exc}"
            ) from exc
        return response

    def _predict(
        self,
        model_id: str,
        model: Model,
        times: PredictionTimes,
        inputs: dict[str, np.ndarray],
        parameters: dict[str, Any],
        requested: list[str],
    ) -> dict[str, np.ndarray]:
        self._native_threads.limit_here()
        return predict(model_id, model, times, inputs, parameters, requested)

    def _loaded(self, model_id: str) -> LoadedModel:
        loaded = self._models.get(model_id)
        if loaded is None:
            raise ModelNotLoaded(model_id)
        return loaded


def describe_place(place: Source | MountedPath) -> str:
    return place.describe() if isinstance(place, Source) else str(place.path)


def _tensor_metadata(spec: TensorSpec) -> v2.ModelMetadataResponse.TensorMetadata:
    return v2.ModelMetadataResponse.TensorMetadata(
        name=spec.name, datatype=spec.datatype, shape=spec.shape
    )
