"""Where a server spends its time, from py-spy (in our venv) sampling it while the load runs.

Only samples of a thread holding the GIL count (``--gil``): a Python server on 2 cores is
bound by that lock, and waiting threads (the event loop in ``epoll``, idle pool workers) drop
out, which py-spy's own idle detection does not manage here. Reported: the share of the
time the GIL was held, then, as shares of those samples, the functions on CPU themselves,
grouped by package too, and our own functions under which the time goes. C extensions
that keep the GIL (numpy, parts of gRPC) show as the Python frame that called them. A
missed target gets one of these in its JSON.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
RATE = 200  # samples per second


async def profile(pid: int, seconds: float, raw_path: Path, top: int = 12) -> dict:
    """Sample ``pid`` for ``seconds`` (py-spy record, raw collapsed stacks into ``raw_path``)
    and summarise. Returns ``{"error": ...}`` rather than raising if py-spy cannot attach."""
    process = await asyncio.create_subprocess_exec(
        str(PY_SPY),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "--output",
        str(raw_path),
        "--nonblocking",
        "--full-filenames",
        "--gil",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        return {"error": f"py-spy exited {process.returncode}: {stderr.decode()[-300:]}"}
    summary = summarise(await asyncio.to_thread(raw_path.read_text), top)
    duration = max(1, round(seconds))
    return {"gil_held_share": round(summary["samples"] / (RATE * duration), 3), **summary}


REPO = Path(__file__).resolve().parents[2]


def _parts(frame: str) -> tuple[str, str]:
    """``func (/full/path/mod.py:12)`` -> (``func (mod.py)``, the package it belongs to):
    our own folder for the repo's code, the top-level package for installed code, ``stdlib
    <module>`` for the standard library."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    short = f"{name} ({path.rsplit('/', 1)[-1]})" if path else name
    if "site-packages/" in path:
        package = path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    elif path.startswith(str(REPO)):
        # through the modelmesh/ links (modelmesh/mesh/...) or the folders themselves
        parts = path[len(str(REPO)) + 1 :].split("/")
        parts = parts[1:] if parts[0] == "modelmesh" else parts
        # the CLI and the venv's console script start every stack: not where time goes
        package = (
            "modelmesh.cli" if "cli" in parts or parts[0] == ".venv" else f"modelmesh.{parts[0]}"
        )
    elif "/lib/python3" in path:
        module = path.split("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
        package = f"stdlib {module}"
    else:
        package = path.rsplit("/", 1)[-1] or name
    return short, package


# our packages, less the CLI that every stack starts in
OURS = ("modelmesh.mesh", "modelmesh.runtimes", "modelmesh.protos")


def summarise(collapsed: str, top: int = 12) -> dict:
    """From py-spy's raw output (``a;b;c count`` lines): the frames on CPU themselves, the
    packages they belong to, and our own functions under which the time goes."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_parts(f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames:
            continue
        total += count
        own[frames[-1][0]] += count
        packages[frames[-1][1]] += count
        for short in {s for s, package in frames if package.startswith(OURS)}:
            ours[short] += count

    def shares(counter: Counter[str]) -> list[list[object]]:
        return [[name, round(n / max(total, 1), 3)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "self": shares(own),
        "self_by_package": shares(packages),
        "under_our_functions": shares(ours),
    }
