"""Writing a benchmark's JSON: the machine it ran on, the targets it checked, the file."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        # the machine's load when the result was written (other work shares it)
        "load_average_1m": round(os.getloadavg()[0], 2),
        "date": time.strftime("%Y-%m-%d"),
    }


def target(name: str, met: bool, measured: object, wanted: str) -> dict:
    """One target of the issue, as checked in this run."""
    return {"target": name, "met": bool(met), "measured": measured, "wanted": wanted}


def write(name: str, doc: dict) -> Path:
    """``bench/results/<name>.json`` (the benchmark's name and the machine first)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **doc}, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    for item in doc.get("targets", []):
        verdict = "met" if item["met"] else "MISSED"
        print(
            f"  {verdict}: {item['target']}: {item['measured']} ({item['wanted']})", file=sys.stderr
        )
    return path
