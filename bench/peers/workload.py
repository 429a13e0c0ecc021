"""What every system is driven with: closed-loop load, latency summaries, the Zipf trace and
the ideal LRU it is compared with, process memory. No server knowledge here: a system is a
``send(i)`` coroutine that raises on a failed request.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Send = Callable[[int], Awaitable[object]]


def summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean/max in ms of latencies given in seconds."""
    if not latencies_s:
        return {"count": 0}
    ms = np.asarray(latencies_s) * 1000
    return {
        "count": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "max_ms": round(float(ms.max()), 3),
    }


@dataclass
class Run:
    """Requests sent back to back by ``concurrency`` workers for ``seconds``."""

    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    first_error: str = ""

    @classmethod
    def merge(cls, runs: Sequence[Run]) -> Run:
        """Several windows of the same load as one (rounds interleaved with other systems)."""
        merged = cls(runs[0].concurrency, sum(r.seconds for r in runs))
        for run in runs:
            merged.latencies.extend(run.latencies)
            merged.failed += run.failed
            merged.first_error = merged.first_error or run.first_error
        return merged

    def row(self) -> dict:
        """req/s, p50/p99 ms, counts (what the JSON keeps)."""
        stats = summary(self.latencies)
        row = {
            "concurrency": self.concurrency,
            "rps": round(len(self.latencies) / self.seconds, 1),
            "p50_ms": stats.get("p50_ms"),
            "p99_ms": stats.get("p99_ms"),
            "requests": len(self.latencies),
            "failed": self.failed,
        }
        if self.first_error:
            row["first_error"] = self.first_error
        return row


async def closed_loop(send: Send, concurrency: int, seconds: float, warmup: float) -> Run:
    """``concurrency`` workers call ``send`` back to back for ``warmup + seconds``; only the
    last ``seconds`` count. A request that raises is counted as failed."""
    run = Run(concurrency, seconds)
    measuring = False
    stop_at = time.monotonic() + warmup + seconds
    counter = 0

    async def worker() -> None:
        nonlocal counter
        while time.monotonic() < stop_at:
            counter += 1
            start = time.perf_counter()
            try:
                await send(counter)
            except Exception as exc:  # a failed request is a result, not a crash
                if measuring:
                    run.failed += 1
                    run.first_error = run.first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            if measuring:
                run.latencies.append(time.perf_counter() - start)

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    began = time.monotonic()
    await asyncio.gather(*tasks)
    run.seconds = time.monotonic() - began
    return run


@dataclass
class Replay:
    """Requests 0..sent-1 of a trace, as sent."""

    sent: int
    seconds: float
    latencies: list[float]
    failed: int
    first_error: str


async def replay(send: Send, length: int, concurrency: int, limit_s: float) -> Replay:
    """Requests 0..length-1 in order, ``concurrency`` at a time; no new one is sent after
    ``limit_s`` (a slow system replays a prefix of the trace rather than for hours)."""
    latencies: list[float] = []
    failures = 0
    first_error = ""
    next_index = 0
    began = time.perf_counter()
    stop_at = time.monotonic() + limit_s

    async def worker() -> None:
        nonlocal failures, first_error, next_index
        while next_index < length and time.monotonic() < stop_at:
            index = next_index
            next_index += 1
            start = time.perf_counter()
            try:
                await send(index)
            except Exception as exc:
                failures += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:300]
                continue
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Replay(next_index, time.perf_counter() - began, latencies, failures, first_error)


def zipf_trace(models: Sequence[str], alpha: float, length: int, seed: int) -> list[str]:
    """Model ids drawn with P(rank r) ~ 1/r^alpha; the ranks are shuffled over the ids."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(models) + 1) ** alpha
    by_rank = rng.permutation(len(models))
    draws = rng.choice(len(models), size=length, p=weights / weights.sum())
    return [models[by_rank[d]] for d in draws]


def lru_hit_ratio(trace: Sequence[str], capacity: int) -> float:
    """The hit ratio of one exact LRU of ``capacity`` models on the trace: the ideal."""
    cache: OrderedDict[str, None] = OrderedDict()
    hits = 0
    for model_id in trace:
        if model_id in cache:
            hits += 1
            cache.move_to_end(model_id)
        else:
            cache[model_id] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / len(trace)


def rss_bytes(pids: Sequence[int]) -> int:
    """Resident memory of these processes together (Linux /proc), 0 for ones gone."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree
