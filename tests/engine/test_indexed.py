"""IndexedTable, its indexes and its planner: table-driven cases (the hypothesis
model test is test_indexed_machine.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from infertrace.engine.indexed import IndexedTable, tuple_columns
from infertrace.engine.planner import Between, Eq, Predicate
from infertrace.engine.sortedpairs import LOAD, SortedPairs

NAMES = ("id", "email", "region", "team", "ts")


def table(n: int = 0) -> IndexedTable[tuple[Any, ...]]:
    columns = tuple_columns(NAMES)
    columns["day"] = lambda row: None if row[4] is None else row[4] // 10
    t: IndexedTable[tuple[Any, ...]] = IndexedTable(
        "id", columns, unique=["email"], hashed=["region", ("team", "day")], ranged=["ts"]
    )
    rows = [(i, f"u{i}@x", ("US", "EU", "APAC")[i % 3], f"t{i % 5}", i) for i in range(n)]
    assert t.insert_many(rows) == []
    return t


@pytest.mark.parametrize(
    ("where", "access"),
    [
        ([Eq("email", "u7@x")], "unique"),
        ([Eq("email", "u7@x"), Eq("region", "US")], "unique"),
        ([Eq("team", "t1"), Eq("day", 3)], "composite"),
        ([Eq("region", "EU")], "hash"),
        ([Eq("region", "EU"), Between("ts", 10, 12)], "range"),  # 2 rows beat ~100
        ([Eq("region", "EU"), Between("ts", 0, 290)], "hash"),  # 100 rows beat 290
        ([Between("ts", 5, 9)], "range"),
        ([Eq("team", "t1")], "scan"),  # only part of the composite
        ([], "scan"),
    ],
)
def test_the_planner_picks_the_most_selective_index(where: list[Predicate], access: str) -> None:
    t = table(300)
    plan = t.explain(where)
    assert plan.access == access, plan.describe()
    used = sum(1 for p in where if p not in plan.residual)
    assert len(plan.residual) == len(where) - used
    rows = t.query(where)
    by_hand = [r for r in t.rows.values() if all(_matches(p, r, t) for p in where)]
    assert rows == sorted(by_hand)
    assert t.count(where) == len(by_hand)


def _matches(p: Predicate, row: tuple[Any, ...], t: IndexedTable[tuple[Any, ...]]) -> bool:
    value = t.columns[p.column](row)
    if isinstance(p, Eq):
        return bool(value == p.value)
    return (
        value is not None
        and (p.low is None or p.low <= value)
        and (p.high is None or value < p.high)
    )


def test_a_batch_reports_every_failing_row_and_stores_nothing() -> None:
    t = table(3)
    batch = [
        (10, "new@x", "US", "t0", 1),
        (1, "other@x", "US", "t0", 1),  # id 1 is stored
        (11, "u2@x", "US", "t0", 1),  # email of row 2
        (10, "again@x", "US", "t0", 1),  # repeats record 0's id
        (12, "new@x", "US", "t0", 1),  # repeats record 0's email
    ]
    problems = t.insert_many(batch)
    assert [i for i, _ in problems] == [1, 2, 3, 4]
    reasons = dict(problems)
    assert "id 1 already exists" in reasons[1]
    assert "email 'u2@x' already exists" in reasons[2]
    assert "repeats record 0" in reasons[3] and "repeats record 0" in reasons[4]
    assert len(t) == 3 and t.get(10) is None and t.find("email", "new@x") is None
    t._check()


def test_update_moves_every_index_and_refuses_a_unique_clash() -> None:
    t = table(20)
    old = t.update((4, "new@x", "EU", "t9", 55))
    assert old == (4, "u4@x", ("US", "EU", "APAC")[4 % 3], "t4", 4)
    assert t.find("email", "new@x") == (4, "new@x", "EU", "t9", 55)
    assert t.find("email", "u4@x") is None
    assert t.query([Eq("team", "t9"), Eq("day", 5)]) == [(4, "new@x", "EU", "t9", 55)]
    with pytest.raises(ValueError, match="email 'u5@x' already exists"):
        t.update((4, "u5@x", "EU", "t9", 55))
    with pytest.raises(KeyError):
        t.update((99, "z@x", "EU", "t9", 55))
    t._check()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: IndexedTable("nope", tuple_columns(NAMES)), "primary key 'nope'"),
        (lambda: IndexedTable("id", tuple_columns(NAMES), hashed=["zone"]), "column 'zone'"),
        (lambda: IndexedTable("id", tuple_columns(NAMES), hashed=["ts"], ranged=["ts"]),
         "two indexes on 'ts'"),
        (lambda: table(1).query([Eq("zone", 1)]), "no column 'zone'"),
        (lambda: table(1).query([], order_by="region"), "order_by 'region'"),
        (lambda: table(1).find("region", "US"), "no unique index"),
    ],
)  # fmt: skip
def test_bad_definitions_and_queries_name_the_value(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_drift_is_found_and_rebuild_repairs_it() -> None:
    t = table(10)
    t.indexes["region"].remove("US", 3)  # a row the index lost
    t.indexes["email"].add("ghost@x", 99)  # an entry without a row
    problems = t.drift()
    assert any("region 'US'" in p and "3" in p for p in problems), problems
    assert any("ghost@x" in p for p in problems), problems
    with pytest.raises(AssertionError):
        t._check()
    t.rebuild_indexes()
    assert t.drift() == []
    t._check()


def test_nbytes_counts_rows_and_every_index() -> None:
    t = table(1000)
    stats = t.nbytes()
    assert stats.count == 1000
    assert set(stats.indexes) == {"email", "region", "team+day", "ts"}
    assert all(v > 0 for v in stats.indexes.values())
    assert stats.rows >= 1000 * (40 + 5 * 8)  # at least the tuples themselves
    assert stats.total == stats.rows + stats.primary + sum(stats.indexes.values())
    sampled = t.nbytes(sample=300)  # 300 random rows, scaled by 1000 / 300
    assert sampled.indexes == stats.indexes
    assert abs(sampled.rows - stats.rows) <= stats.rows * 0.05


@pytest.mark.parametrize("n", [0, 1, 2 * LOAD + 1, 5 * LOAD])
def test_sorted_pairs_match_a_sorted_list(n: int) -> None:
    rng = random.Random(n)
    pairs = [(rng.randrange(n // 3 + 1), i) for i in range(n)]
    s = SortedPairs()
    for k, pk in pairs:
        s.add(k, pk)
    s._check()
    model = sorted(pairs)
    for low, high in [(None, None), (0, 1), (2, n // 5 + 2), (n // 4, None), (5, 3)]:
        want = [pk for k, pk in model if (low is None or k >= low) and (high is None or k < high)]
        assert list(s.pks(low, high)) == want
        assert list(s.pks(low, high, reverse=True)) == want[::-1]
        for skip in (1, LOAD - 1, LOAD, 3 * LOAD + 2):
            assert list(s.pks(low, high, skip=skip)) == want[skip:]
            assert list(s.pks(low, high, reverse=True, skip=skip)) == want[::-1][skip:]
        assert s.count(low, high) == len(want)
    for k, pk in pairs[::2]:
        s.remove(k, pk)
    s._check()
    assert list(s) == sorted(pairs[1::2])
    with pytest.raises(KeyError):
        s.remove(-1, -1)


@pytest.mark.parametrize("stored", [2, 3 * LOAD])
def test_a_batch_merges_and_stays_sorted(stored: int) -> None:
    """A batch bigger than the content is merged by one sort; a smaller one is
    inserted pair by pair; either way the pairs (ties included) come out sorted."""
    rng = random.Random(stored)
    old = [(rng.randrange(50), i) for i in range(stored)]
    new = [(rng.randrange(50), i) for i in range(stored, stored + 2 * LOAD + 7)][: stored + 5]
    s = SortedPairs(old)
    s.update([k for k, _ in new], [p for _, p in new])
    s._check()
    assert list(s) == sorted(old + new)


@pytest.mark.parametrize(("stop", "exact"), [(None, True), (10_000, True), (5, False)])
def test_a_stopped_count_is_exact_or_past_stop(stop: int | None, exact: bool) -> None:
    s = SortedPairs((k, k) for k in range(5 * LOAD))
    true = 4 * LOAD - 10
    got = s.count(5, 4 * LOAD - 5, stop)
    assert got == true if exact else stop is not None and stop < got <= true


def test_keys_that_are_not_int64_move_the_blocks_to_lists() -> None:
    s = SortedPairs((k, k) for k in range(3 * LOAD))
    assert s._typed
    s.add(2**70, "big")  # past int64: every block becomes a list, order kept
    s.update([1.5, 2.5], ["f1", "f2"])
    s._check()
    assert not s._typed
    assert list(s)[:4] == [(0, 0), (1, 1), (1.5, "f1"), (2, 2)]
    assert list(s)[-1] == (2**70, "big")
    s.remove(1.5, "f1")
    assert s.count(1, 3) == 3
    texts = SortedPairs([("b", 1), ("a", 2), ("a", 1)])
    assert list(texts.pks()) == [1, 2, 1] and not texts._typed
    with pytest.raises(KeyError):
        SortedPairs([(1, 1)]).remove("x", 1)
