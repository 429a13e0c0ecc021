"""How many bytes of memory a loaded model holds: measured at load time, not guessed.

The mesh packs models into each runtime by these sizes, so they should be what the process
really pays. Two measurements, the larger wins, floored at ``MIN_MODEL_BYTES``:

1. **Heap delta** (``HeapProbe``): glibc's count of live ``malloc`` bytes (``mallinfo2``:
   ``uordblks + hblkhd``) after the load and its warm-up prediction, minus before. It sees
   what native libraries keep (xgboost and lightgbm trees, onnxruntime's arena and kernels,
   numpy arrays), repeats to within 0.2 % from one load to the next, and unlike RSS it is
   not fooled by freed pages being reused. It is skipped (None) when another load
   overlapped in time, since each would count the other's allocations, and off glibc.
2. **Held bytes** (``Model.held_bytes``): what the loaded object holds by its own account:
   the out-of-band pickled size for Python objects (``object_bytes``: array buffers plus the
   structure around them), the raw booster for xgboost, the model file for lightgbm and
   onnx. It is deterministic, and the floor when the heap delta is missing or was shrunk by
   a prediction freeing memory meanwhile.

Measured on digits models (64 features), per loaded copy: held bytes, heap delta, and the
RSS growth per copy over 10-200 copies in a fresh process (``file``: size on disk):

| model | file | held | heap delta | RSS growth |
|---|---|---|---|---|
| sklearn logistic regression | 3.5 KB | 3.3 KB | 2.9 KB | 4 KB |
| sklearn random forest, 40 trees | 2.32 MB | 2.31 MB | 2.31 MB | 2.45 MB |
| sklearn MLP 512x512 | 4.83 MB | 4.82 MB | 4.84 MB | 4.85 MB |
| xgboost 8 rounds x 10 classes | 93 KB | 92 KB | 91 KB | 95 KB |
| xgboost 60 rounds, depth 6 | 669 KB | 666 KB | 636 KB | 644 KB |
| lightgbm 8 rounds | 83 KB | 83 KB | 120 KB | 459 KB |
| lightgbm 60 rounds, 31 leaves | 2.11 MB | 2.11 MB | 1.68 MB | 3.41 MB |
| onnx logistic regression | 3.7 KB | 3.7 KB | 1.17 MB | 127 KB |
| onnx MLP 512x512 | 1.21 MB | 1.21 MB | 2.43 MB | 2.20 MB |
| onnx random forest, 40 trees | 1.45 MB | 1.45 MB | 9.13 MB | 7.90 MB |

RSS counts only touched pages (onnxruntime reserves a 1 MB arena it barely touches), and
lightgbm's RSS includes per-thread buffers outside ``malloc``'s books; the heap delta counts
what was allocated, which the model may come to touch. Python objects in pymalloc's arenas
escape ``mallinfo2``; the held bytes cover them. The first model of a kind in a process
also pays for its library's one-time set-up (onnxruntime's environment, ~1.3 MB; modules a
pickle imports, up to a few MB), which stays after it is gone: that model is over-counted
by as much, the safe direction.

``predicted_bytes`` is the cheap guess before a load (``predictModelSize``): the size on disk
times the format's ``disk_factor`` (from the table: 1.25 for sklearn and xgboost, whose
memory is about their file; 1.6 for lightgbm; 6.5 for onnx, whose tree ensembles grow most),
floored likewise.
"""

from __future__ import annotations

import ctypes
import logging
import pickle
import threading
from types import TracebackType
from typing import Any

logger = logging.getLogger(__name__)

# Below this, a model's own bookkeeping (Python objects, the runtime's entry) dominates.
MIN_MODEL_BYTES = 16 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _find_mallinfo2() -> Any:
    try:
        function = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        logger.info("no glibc mallinfo2 here: model sizes come from held bytes only")
        return None
    function.restype = _MallInfo2
    function.argtypes = []
    return function


_MALLINFO2 = _find_mallinfo2()


def heap_in_use() -> int | None:
    """Live bytes allocated through malloc in this process, or None off glibc."""
    if _MALLINFO2 is None:
        return None
    info = _MALLINFO2()
    return int(info.uordblks + info.hblkhd)


class HeapProbe:
    """Measures the live malloc bytes a block of code leaves behind, if it ran alone.

    ``delta`` is None when the platform cannot tell or another probe overlapped this one.
    """

    _lock = threading.Lock()
    _running = 0
    _started = 0  # probes ever started; a change while we ran means an overlap

    def __init__(self) -> None:
        self.delta: int | None = None
        self._alone = False
        self._ticket = 0
        self._before: int | None = None

    def __enter__(self) -> HeapProbe:
        cls = type(self)
        with cls._lock:
            self._alone = cls._running == 0
            cls._running += 1
            cls._started += 1
            self._ticket = cls._started
        self._before = heap_in_use()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        after = heap_in_use()
        cls = type(self)
        with cls._lock:
            cls._running -= 1
            alone = self._alone and cls._started == self._ticket
        if alone and after is not None and self._before is not None:
            self.delta = after - self._before


class _Counter:
    """A write-only file that only counts what is written to it."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        self.count += size
        return size


def object_bytes(obj: object) -> int:
    """Bytes ``obj`` pickles to, arrays counted in place (protocol 5, out of band)."""
    counter = _Counter()

    def count_buffer(buffer: pickle.PickleBuffer) -> None:
        counter.count += buffer.raw().nbytes

    pickle.Pickler(counter, protocol=5, buffer_callback=count_buffer).dump(obj)
    return counter.count


def measured_bytes(held: int, heap_delta: int | None) -> int:
    """The size the mesh is told: the larger measurement, floored."""
    return max(MIN_MODEL_BYTES, held, heap_delta or 0)


def predicted_bytes(disk: int, disk_factor: float) -> int:
    """The guess before loading: size on disk times the format's factor, floored."""
    return max(MIN_MODEL_BYTES, round(disk * disk_factor))
