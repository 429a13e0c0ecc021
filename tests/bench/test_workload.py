"""The benchmark harness's pure parts: the ideal LRU, the Zipf trace, profile summaries."""

from __future__ import annotations

from bench.peers.profiling import REPO, summarise
from bench.peers.workload import lru_hit_ratio, zipf_trace


def test_ideal_lru_counts_only_requests_to_resident_models() -> None:
    # room 2: a b (miss miss) a (hit) c (miss, evicts b) b (miss, evicts a) a (miss)
    assert lru_hit_ratio(list("abacba"), 2) == 1 / 6
    assert lru_hit_ratio(list("aaaa"), 1) == 3 / 4


def test_zipf_trace_is_reproducible_and_skewed() -> None:
    models = [f"m{i}" for i in range(100)]
    trace = zipf_trace(models, 1.0, 5000, seed=7)
    assert trace == zipf_trace(models, 1.0, 5000, seed=7)
    counts = sorted((trace.count(m) for m in set(trace)), reverse=True)
    # rank 1 draws about 1/H(100) = 19 % of requests; uniform would give 1 %
    assert counts[0] > 0.12 * len(trace)


def test_profile_summary_groups_self_time_by_package() -> None:
    ours = f"{REPO}/mesh/forwarding.py"
    grpc = "/v/lib/python3.11/site-packages/grpc/aio/_server.py"
    loop = "/py/lib/python3.11/asyncio/events.py"
    collapsed = "\n".join(
        [
            f"run ({loop}:80);invoke ({ours}:10);call ({grpc}:5) 6",
            f"run ({loop}:80);invoke ({ours}:12) 3",
            f"run ({loop}:80) 1",
        ]
    )
    summary = summarise(collapsed)
    assert summary["samples"] == 10
    assert summary["self"][0] == ["call (_server.py)", 0.6]
    assert dict(map(tuple, summary["self_by_package"])) == {
        "grpc": 0.6,
        "modelmesh.mesh": 0.3,
        "stdlib asyncio": 0.1,
    }
    assert summary["under_our_functions"] == [["invoke (forwarding.py)", 0.9]]
