"""The local LRU cache: order, room-making, pinning."""

from __future__ import annotations

import pytest

from modelmesh.mesh.cache import LruCache


def _filled(capacity: int, *entries: tuple[str, int, int]) -> LruCache:
    cache = LruCache(capacity)
    for model_id, size, last_used in entries:
        cache.add(model_id, size, last_used).pinned = False
    return cache


def test_victims_are_least_recently_used_first() -> None:
    cache = _filled(100, ("a", 30, 1), ("b", 30, 2), ("c", 30, 3))
    assert cache.victims_for(10) == []
    assert cache.victims_for(20) == ["a"]
    assert cache.victims_for(50) == ["a", "b"]
    cache.touch("a", 4)
    assert cache.victims_for(20) == ["b"]


def test_older_last_used_stamp_is_placed_in_order() -> None:
    cache = _filled(100, ("a", 10, 10), ("b", 10, 20))
    cache.add("old", 10, 5).pinned = False
    cache.add("mid", 10, 15).pinned = False
    assert [e.model_id for e in cache.entries()] == ["old", "a", "mid", "b"]
    assert cache.oldest_last_used() == 5


def test_pinned_entries_are_never_victims() -> None:
    cache = _filled(100, ("a", 40, 1))
    cache.add("loading", 40, 2)  # pinned while it loads
    assert cache.victims_for(60) == ["a"]
    assert cache.victims_for(100) is None


@pytest.mark.parametrize(("resize_to", "used"), [(5, 35), (50, 80)])
def test_resize_tracks_used_bytes(resize_to: int, used: int) -> None:
    cache = _filled(100, ("a", 30, 1), ("b", 10, 2))
    cache.resize("b", resize_to)
    assert cache.used == used
    assert cache.free == 100 - used
    cache.remove("a")
    assert cache.used == used - 30


def test_touch_of_unknown_or_older_time_changes_nothing() -> None:
    cache = _filled(100, ("a", 10, 10), ("b", 10, 20))
    cache.touch("missing", 30)
    cache.touch("b", 5)
    assert [e.model_id for e in cache.entries()] == ["a", "b"]
    assert cache.get("b") is not None and cache.get("b").last_used == 20  # type: ignore[union-attr]


def test_order_holds_through_mixed_stamps_touches_and_removals() -> None:
    import random

    rng = random.Random(3)
    cache = LruCache(10**9)
    clock = 1000
    expected: dict[str, int] = {}
    for i in range(500):
        clock += 1
        action = rng.random()
        if action < 0.5 or not expected:
            stamp = clock - rng.randrange(0, 900)  # some older than the newest entry
            model_id = f"m{i}"
            cache.add(model_id, 1, stamp).pinned = False
            expected[model_id] = stamp
        elif action < 0.8:
            model_id = rng.choice(sorted(expected))
            cache.touch(model_id, clock)
            expected[model_id] = max(expected[model_id], clock)
        else:
            model_id = rng.choice(sorted(expected))
            cache.remove(model_id)
            del expected[model_id]
        order = [e.last_used for e in cache.entries()]
        assert order == sorted(expected.values())
        assert {e.model_id for e in cache.entries()} == set(expected)
    assert cache.oldest_last_used() == min(expected.values())
    assert cache.used == len(expected)
