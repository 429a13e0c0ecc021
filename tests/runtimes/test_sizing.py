"""Model sizes are measured: the heap probe, pickled sizes, and sizes against real memory."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelmesh.runtimes.python.runtime import PythonRuntime
from modelmesh.runtimes.python.settings import MiB, RuntimeSettings
from modelmesh.runtimes.python.sizing import (
    MIN_MODEL_BYTES,
    HeapProbe,
    heap_in_use,
    measured_bytes,
    object_bytes,
    predicted_bytes,
)
from tests.support.models import write_sklearn

needs_glibc = pytest.mark.skipif(heap_in_use() is None, reason="mallinfo2 needs glibc")


@needs_glibc
def test_the_heap_probe_counts_what_a_block_keeps() -> None:
    with HeapProbe() as probe:
        kept = np.ones(4 * MiB // 8)
    # gRPC's threads in the test process may allocate or free a little meanwhile
    assert probe.delta is not None and abs(probe.delta - kept.nbytes) < 256 * 1024
    with HeapProbe() as probe:
        del kept
    assert probe.delta is not None and abs(probe.delta + 4 * MiB) < 256 * 1024


@needs_glibc
def test_overlapping_probes_measure_nothing() -> None:
    with HeapProbe() as outer, HeapProbe() as inner:
        pass
    assert (outer.delta, inner.delta) == (None, None)
    with HeapProbe() as alone:
        pass
    assert alone.delta is not None


def test_object_bytes_counts_arrays_in_place() -> None:
    array = np.zeros(100_000)
    assert array.nbytes < object_bytes({"weights": array}) < array.nbytes + 1024


def test_floors_and_guesses() -> None:
    assert measured_bytes(10, None) == MIN_MODEL_BYTES
    assert measured_bytes(5 * MiB, 7 * MiB) == 7 * MiB
    assert measured_bytes(5 * MiB, -MiB) == 5 * MiB
    assert predicted_bytes(4 * MiB, 1.5) == 6 * MiB
    assert predicted_bytes(0, 6.5) == MIN_MODEL_BYTES


_RSS_PER_COPY = """
import sys, joblib
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
keep = [joblib.load(sys.argv[1])]
before = rss()
keep += [joblib.load(sys.argv[1]) for _ in range(10)]
print((rss() - before) // 10)
"""


def _rss_per_copy(path: Path) -> int:
    """Real memory of a model: RSS growth per copy, in a fresh process, over ten copies."""
    command = [sys.executable, "-c", _RSS_PER_COPY, str(path)]
    return int(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


async def test_sizes_of_bigger_models_are_bigger_and_near_real_memory(tmp_path: Path) -> None:
    small = write_sklearn(tmp_path, "small.joblib")
    big = write_sklearn(tmp_path, "big.joblib", kind="forest")
    runtime = PythonRuntime(RuntimeSettings(models_root=tmp_path))
    try:
        small_size = await runtime.load("small", "sklearn", small.name, "")
        big_size = await runtime.load("big", "sklearn", big.name, "")
    finally:
        await runtime.close()
    assert small_size < big_size / 50
    reality = await asyncio.to_thread(_rss_per_copy, big)
    assert 0.8 * reality <= big_size <= 1.5 * reality, (big_size, reality)
