"""The README's benchmark tables, made from bench/results/{warm,cold,churn,density}.json.

    python bench/table.py            print the tables (Markdown)
    python bench/table.py --write    put them into README.md between the markers
    python bench/table.py --check    exit 1 if README.md's tables differ from the JSON

A results file that is missing is left out. tests/bench/test_table.py checks that the README
agrees with the committed JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
BEGIN = "<!-- bench-table:begin (bench/table.py --write) -->"
END = "<!-- bench-table:end -->"

WARM_ROWS = [
    ("mesh-grpc", "our mesh", "gRPC"),
    ("mlserver-grpc", "MLServer", "gRPC"),
    ("ray-http", "Ray Serve", "HTTP"),
    ("mesh-rest", "our mesh", "REST"),
    ("mlserver-rest", "MLServer", "REST"),
]


def _load(name: str, results: Path) -> dict | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return lines


def _machine(doc: dict) -> str:
    m = doc["machine"]
    return (
        f"{m['date']}, {m['cpus']} cores ({m['cpu'] or 'unknown CPU'}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, load average {m['load_average_1m']} when written"
    )


def warm(doc: dict) -> list[str]:
    levels = list(doc["ratios"])
    header = ["system", "path"]
    for level in levels:
        header += [f"req/s @{level}", f"p50 ms @{level}", f"p99 ms @{level}"]
    rows = []
    for key, system, path in WARM_ROWS:
        if key not in doc["systems"]:
            continue
        row: list[object] = [system, path]
        for level in levels:
            r = doc["systems"][key][level]
            row += [r["rps"], r["p50_ms"], r["p99_ms"]]
        rows.append(row)
    ratio_lines = [
        f"- @{level}: mesh gRPC / MLServer gRPC **{r['mesh_grpc_vs_mlserver_grpc_rps']}**, "
        f"mesh gRPC / Ray HTTP **{r['mesh_grpc_vs_ray_http_rps']}**, "
        f"mesh REST / Ray HTTP **{r['mesh_rest_vs_ray_http_rps']}**, "
        f"mesh REST / MLServer REST **{r['mesh_rest_vs_mlserver_rest_rps']}** (req/s ratios)"
        for level, r in doc["ratios"].items()
    ]
    return [
        "### Warm: one digits model resident (`bench/warm.py`)",
        "",
        *_table(header, rows),
        "",
        *ratio_lines,
        "",
        f"@N: N requests in flight. {doc['seconds']} s per cell in {doc['rounds']} interleaved "
        f"rounds. Measured {_machine(doc)}.",
    ]


def cold(doc: dict) -> list[str]:
    names = {"mesh": "our mesh", "mlserver": "MLServer", "ray": "Ray Serve"}
    rows = []
    for key, s in doc["systems"].items():
        rows.append(
            [
                names.get(key, key),
                s["start_s"],
                s["first_model_ms"],
                s["next_models"]["p50_ms"],
                s["next_models"]["max_ms"],
                s["next_models_own_load"]["p50_ms"],
                s["next_models_beyond_own_load"]["p50_ms"],
            ]
        )
    header = [
        "system",
        "server start s",
        "first model ms",
        "next models p50 ms",
        "next models max ms",
        "own load p50 ms",
        "beyond own load p50 ms",
    ]
    return [
        "### Cold start: registration to first answer (`bench/cold.py`)",
        "",
        *_table(header, rows),
        "",
        f"{doc['models_per_system']} fresh models per system, one after another. "
        + "; ".join(f"{names.get(k, k)}: {how}" for k, how in doc["how"].items())
        + f". Measured {_machine(doc)}.",
    ]


def churn(doc: dict) -> list[str]:
    rows = []
    for key, s in doc["systems"].items():
        served = f"{s['requests']:,}" + (" (time limit)" if s.get("cut_at_time_limit") else "")
        rows.append(
            [
                key,
                served,
                s["hit_ratio"],
                s["ideal_lru_hit_ratio"],
                s["loads"],
                s["loads_per_s"],
                s["p50_ms"],
                s["p99_ms"],
                s["failed"],
            ]
        )
    header = [
        "system",
        "requests served",
        "hit ratio",
        "exact LRU on them",
        "loads",
        "loads/s",
        "p50 ms",
        "p99 ms",
        "failed",
    ]
    return [
        f"### Churn: {doc['models']:,} models, room for {doc['room']}, "
        f"Zipf alpha {doc['alpha']}, {doc['requests']:,} requests (`bench/churn.py`)",
        "",
        *_table(header, rows),
        "",
        f"Hit ratio = 1 - loads / requests; an exact LRU of {doc['room']} on the whole trace "
        f"hits {doc['ideal_lru_hit_ratio']}. {doc['concurrency']} request(s) in flight; a "
        "system still replaying at the time limit is cut there. "
        f"Measured {_machine(doc)}.",
    ]


def density(doc: dict) -> list[str]:
    levels = list(doc["steps"][0]["latency"]) if doc["steps"] else []
    header = ["models loaded", "loads/s", "RSS MiB", "bytes/model"]
    for level in levels:
        header += [f"p50 ms @{level}", f"p99 ms @{level}", f"req/s @{level}"]
    rows = []
    for step in doc["steps"]:
        row: list[object] = [
            f"{step['models']:,}",
            step["loads_per_s"],
            step["rss_mib"],
            f"{step['bytes_per_model']:,}",
        ]
        for level in levels:
            r = step["latency"][level]
            row += [r["p50_ms"], r["p99_ms"], r["rps"]]
        rows.append(row)
    up = doc["upstream"]
    return [
        "### Density: models loaded in one instance (`bench/density.py`)",
        "",
        *_table(header, rows),
        "",
        "@N: N requests in flight, each to a model drawn at random from all loaded. "
        f"Most models served at p99 < 10 ms (1 in flight): "
        f"**{doc['most_models_serving_p99_under_10ms']:,}**; upstream published "
        f"{up['models']:,} on {up['node']} ({up['source']}). The runtime reports "
        f"{doc['runtime_reported_model_bytes']:,} bytes per model; RSS with one model "
        f"{doc['base_rss_mib']} MiB. Measured {_machine(doc)}.",
    ]


def targets(docs: dict[str, dict]) -> list[str]:
    rows = []
    for name, doc in docs.items():
        for t in doc.get("targets", []):
            rows.append(
                [name, t["target"], t["measured"], t["wanted"], "met" if t["met"] else "**missed**"]
            )
    if not rows:
        return []
    return [
        "### Targets (issue 8)",
        "",
        *_table(["benchmark", "target", "measured", "wanted", ""], rows),
    ]


def _percent(pairs: list[list], count: int) -> str:
    return ", ".join(f"{name} {share * 100:.0f}%" for name, share in pairs[:count])


def profiles(docs: dict[str, dict]) -> list[str]:
    """One line per py-spy profile a benchmark took (where it missed a target)."""
    lines = []
    for name, doc in docs.items():
        found = dict(doc.get("profiles", {}))
        for system, row in doc.get("systems", {}).items():
            if isinstance(row, dict):
                found.update({f"{system}: {k}": v for k, v in row.get("profiles", {}).items()})
        for what, p in found.items():
            if "error" in p:
                lines.append(f"- {name}, {what}: py-spy failed: {p['error']}")
                continue
            lines.append(
                f"- {name}, {what}: GIL held {p['gil_held_share'] * 100:.0f}% of the time; "
                f"by package: {_percent(p['self_by_package'], 5)}; "
                f"top frames: {_percent(p['self'], 4)}; "
                f"under our functions: {_percent(p['under_our_functions'], 4)}"
            )
    if not lines:
        return []
    return [
        "### Profiles (py-spy, samples holding the GIL)",
        "",
        *lines,
    ]


def render(results: Path = RESULTS) -> str:
    makers = {"warm": warm, "cold": cold, "churn": churn, "density": density}
    docs = {name: doc for name in makers if (doc := _load(name, results)) is not None}
    sections = [makers[name](doc) for name, doc in docs.items()]
    sections.append(targets(docs))
    sections.append(profiles(docs))
    return "\n\n".join("\n".join(lines) for lines in sections if lines) + "\n"


def readme_block(text: str) -> str:
    """What README.md holds between the markers."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"README.md has no {BEGIN!r} ... {END!r} block")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true")
    group.add_argument("--check", action="store_true")
    args = parser.parse_args()
    tables = render()
    if args.write:
        text = README.read_text()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        README.write_text(f"{head}{BEGIN}\n{tables}{END}{tail}")
    elif args.check:
        if readme_block(README.read_text()) != tables:
            print(
                "README.md's benchmark tables differ from bench/results: run bench/table.py --write"
            )
            return 1
    else:
        print(tables, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
