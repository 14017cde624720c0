"""RangeCache: range invalidation, a stale result never kept, a bounded size."""

from __future__ import annotations

import pytest

from infertrace.activity.cache import MISSING, RangeCache
from infertrace.activity.generate import generate


@pytest.mark.parametrize(
    ("days", "kept"),
    [
        (frozenset({5}), {"a"}),  # inside b (3..7) only
        (frozenset({1}), {"b"}),  # inside a (0..2) only
        (frozenset({9}), {"a", "b"}),  # covered by neither
        (frozenset({2, 3}), set()),
        (None, set()),  # every day
    ],
)
def test_a_write_drops_the_entries_covering_its_days(
    days: frozenset[int] | None, kept: set[str]
) -> None:
    cache = RangeCache(8)
    cache.put("a", 0, 2, 1, cache.generation)
    cache.put("b", 3, 7, 2, cache.generation)
    cache.invalidate("commit", days)
    assert {k for k in ("a", "b") if cache.get(k) is not MISSING} == kept
    cache._check()


def test_a_result_computed_across_a_write_is_not_kept() -> None:
    cache = RangeCache(8)
    before = cache.generation
    cache.invalidate("commit", frozenset({100}))  # a write lands meanwhile
    cache.put("a", 0, 2, "stale?", before)
    assert cache.get("a") is MISSING
    cache.put("a", 0, 2, "fresh", cache.generation)
    assert cache.get("a") == "fresh"


def test_the_oldest_entry_leaves_first() -> None:
    cache = RangeCache(2)
    for key in ("a", "b", "c"):
        cache.put(key, 0, 0, key, cache.generation)
    assert cache.get("a") is MISSING and cache.get("c") == "c" and len(cache) == 2
    with pytest.raises(ValueError, match="cache size 0"):
        RangeCache(0)


def test_generate_is_reproducible_from_its_seed() -> None:
    one = generate(20, 3, commits=50, changes=50, sessions=10, seed=5)
    two = generate(20, 3, commits=50, changes=50, sessions=10, seed=5)
    other = generate(20, 3, commits=50, changes=50, sessions=10, seed=6)
    assert one == two and one.commits != other.commits
    assert len({d.email for d in one.developers}) == 20
