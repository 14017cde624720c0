"""ColumnTable against a plain model (a dict of tuples), step by step (hypothesis), and
table-driven cases for its planner, batches, compaction and state.

Rows are tuples ``(id, email, region, team, ts, note)``; the table has a unique
index on email (optional text), hash indexes on region and on (region, team), a
range index on ts, a derived ``day`` (ts // 3) and no index on note. After every
insert, batch, update or delete, ``_check()`` holds and every query in
:data:`QUERIES` answers what filtering and sorting the model answers.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from infertrace.engine import colindex
from infertrace.engine.coldata import ColumnSpec
from infertrace.engine.columnar import ColumnTable
from infertrace.engine.planner import Between, Eq, Predicate

NAMES = ("id", "email", "region", "team", "ts", "note")
SPECS = (ColumnSpec("id", "int"), ColumnSpec("email", optional=True), ColumnSpec("region"),
         ColumnSpec("team"), ColumnSpec("ts", "int"), ColumnSpec("note"))  # fmt: skip
IDS = st.integers(0, 12)
EMAILS = st.sampled_from(["a@x", "b@x", "c@x", "d@x", None])
ROWS = st.tuples(IDS, EMAILS, st.sampled_from(["US", "EU"]), st.sampled_from(["t1", "t2"]),
                 st.integers(0, 9), st.sampled_from(["n1", "n2"]))  # fmt: skip

QUERIES: list[tuple[list[Predicate], str | None]] = [
    ([], None),
    ([Eq("email", "a@x")], None),
    ([Eq("region", "EU")], None),
    ([Eq("region", "US"), Eq("team", "t2")], None),
    ([Eq("region", "US"), Eq("note", "n1")], None),
    ([Eq("note", "n2")], None),
    ([Eq("day", 1)], None),
    ([Between("ts", 2, 7)], None),
    ([Between("ts", 2, 7)], "ts"),
    ([Between("ts", None, 5), Eq("region", "EU")], "ts"),
    ([Between("ts", 3)], None),
    ([Eq("team", "t1")], "ts"),
    ([Eq("email", None)], None),
    ([Between("note", "n2")], None),
]
PAGES = [(None, 0), (3, 0), (2, 1), (4, 3), (None, 5)]


def make_table() -> ColumnTable[tuple[Any, ...]]:
    getters = {n: itemgetter(i) for i, n in enumerate(NAMES)}
    return ColumnTable("id", SPECS, getters, lambda *v: tuple(v),
                       derived={"day": ("ts", lambda a: a // 3)}, unique=["email"],
                       hashed=["region", ("region", "team")], ranged=["ts"])  # fmt: skip


def value(row: tuple[Any, ...], column: str) -> Any:
    return row[4] // 3 if column == "day" else row[NAMES.index(column)]


def expected(model: dict[int, tuple[Any, ...]], where: list[Predicate], order_by: str | None,
             reverse: bool) -> list[tuple[Any, ...]]:  # fmt: skip
    """Filter and sort the model by hand: the oracle."""
    found = [
        r
        for r in model.values()
        if all(
            p.test(value(r, p.column)) if isinstance(p, Between) else value(r, p.column) == p.value
            for p in where
        )
    ]
    if order_by is None:
        return sorted(found, key=lambda r: r[0], reverse=reverse)
    i = NAMES.index(order_by)
    return sorted(found, key=lambda r: (r[i], r[0]), reverse=reverse)


class TableMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.table = make_table()
        self.model: dict[int, tuple[Any, ...]] = {}

    def _clashes(self, row: tuple[Any, ...], ignore: int | None = None) -> bool:
        return row[1] is not None and any(
            r[1] == row[1] for k, r in self.model.items() if k != ignore
        )

    @rule(row=ROWS)
    def insert(self, row: tuple[Any, ...]) -> None:
        refused = row[0] in self.model or self._clashes(row)
        try:
            self.table.insert(row)
        except ValueError:
            assert refused
        else:
            assert not refused
            self.model[row[0]] = row

    @rule(rows=st.lists(ROWS, max_size=5))
    def insert_many(self, rows: list[tuple[Any, ...]]) -> None:
        bad: set[int] = set()
        seen_ids: set[int] = set()
        emails = {r[1] for r in self.model.values()}
        for i, row in enumerate(rows):
            if row[0] in self.model or row[0] in seen_ids:
                bad.add(i)
                continue
            seen_ids.add(row[0])
            if row[1] is not None and row[1] in emails:
                bad.add(i)
            emails.add(row[1])
        problems = self.table.insert_many(rows)
        assert {i for i, _ in problems} == bad, problems
        if not problems:
            self.model.update((r[0], r) for r in rows)

    @rule(row=ROWS)
    def update(self, row: tuple[Any, ...]) -> None:
        try:
            old = self.table.update(row)
        except KeyError:
            assert row[0] not in self.model
        except ValueError:
            assert self._clashes(row, ignore=row[0])
        else:
            assert old == self.model[row[0]]
            assert not self._clashes(row, ignore=row[0])
            self.model[row[0]] = row

    @rule(pk=IDS)
    def delete(self, pk: int) -> None:
        try:
            row = self.table.delete(pk)
        except KeyError:
            assert pk not in self.model
        else:
            assert row == self.model.pop(pk)

    @rule()
    def compact(self) -> None:
        self.table.compact()

    @rule(with_orders=st.booleans())
    def export_and_load(self, with_orders: bool) -> None:
        arrays, dictionaries = self.table.export()
        orders = self.table.index_orders() if with_orders else None
        fresh = make_table()
        fresh.load(arrays, dictionaries, orders)
        self.table = fresh

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.table._check()
        assert len(self.table) == len(self.model)
        for pk, row in self.model.items():
            assert self.table.get(pk) == row
        for where, order_by in QUERIES:
            assert self.table.count(where) == len(expected(self.model, where, None, False)), where
            for reverse in (False, True):
                want = expected(self.model, where, order_by, reverse)
                for limit, offset in PAGES:
                    got = self.table.query(where, order_by=order_by, reverse=reverse,
                                           limit=limit, offset=offset)  # fmt: skip
                    stop = None if limit is None else offset + limit
                    assert got == want[offset:stop], (where, order_by, reverse, limit, offset)


TestColumnTableMachine = TableMachine.TestCase
TestColumnTableMachine.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)


def filled(n: int) -> ColumnTable[tuple[Any, ...]]:
    t = make_table()
    rows = [(i, f"u{i}@x", ("US", "EU", "APAC")[i % 3], f"t{i % 5}", i, "n") for i in range(n)]
    assert t.insert_many(rows) == []
    return t


@pytest.mark.parametrize(
    ("where", "access"),
    [
        ([Eq("email", "u7@x")], "unique"),
        ([Eq("email", "u7@x"), Eq("region", "US")], "unique"),
        ([Eq("region", "EU"), Eq("team", "t1")], "composite"),
        ([Eq("region", "EU")], "hash"),
        ([Eq("region", "EU"), Between("ts", 10, 12)], "range"),  # 2 rows beat ~100
        ([Eq("region", "EU"), Between("ts", 0, 290)], "hash"),  # 100 rows beat 290
        ([Between("ts", 5, 9)], "range"),
        ([Eq("team", "t1")], "scan"),  # only part of the composite
        ([], "scan"),
    ],
)
def test_the_planner_picks_the_most_selective_index(where: list[Predicate], access: str) -> None:
    t = filled(300)
    assert t.explain(where).access == access, t.explain(where).describe()
    model = {r[0]: r for r in t}
    assert t.query(where) == expected(model, where, None, False)


@pytest.mark.parametrize("n", [colindex.MIN_TAIL - 1, 3 * colindex.MIN_TAIL + 17])
def test_the_tail_is_merged_and_still_read(n: int) -> None:
    """Below MIN_TAIL rows everything is tail; past it the sorted part takes over:
    either way a bucket and a range read the same rows as a scan."""
    t = filled(n)
    index = t.indexes["ts"]
    assert isinstance(index, colindex.SortedIndex)
    assert (index.built > 0) == (n > colindex.MIN_TAIL)
    model = {r[0]: r for r in t}
    for where in ([Eq("region", "EU")], [Between("ts", n // 3, n // 2)],
                  [Eq("region", "US"), Eq("team", "t2")]):  # fmt: skip
        assert t.query(where) == expected(model, where, None, False)
    picked = t.select_any("region", ["EU", "APAC", "nowhere"], [Between("ts", 10, n // 2)], ["id"])
    want = sorted(r[0] for r in model.values() if r[2] in ("EU", "APAC") and 10 <= r[4] < n // 2)
    assert sorted(picked["id"].tolist()) == want
    t._check()


def test_a_batch_reports_every_failing_row_and_stores_nothing() -> None:
    t = filled(3)
    batch = [
        (10, "new@x", "US", "t0", 1, "n"),
        (1, "other@x", "US", "t0", 1, "n"),  # id 1 is stored
        (11, "u2@x", "US", "t0", 1, "n"),  # email of row 2
        (10, "again@x", "US", "t0", 1, "n"),  # repeats record 0's id
        (12, "new@x", "US", "t0", 1, "n"),  # repeats record 0's email
    ]
    dictionary = list(t.dictionary("email"))
    problems = t.insert_many(batch)
    assert [i for i, _ in problems] == [1, 2, 3, 4]
    reasons = dict(problems)
    assert "id 1 already exists" in reasons[1]
    assert "email 'u2@x' already exists" in reasons[2]
    assert "repeats record 0" in reasons[3] and "repeats record 0" in reasons[4]
    assert len(t) == 3 and t.get(10) is None and t.find("email", "new@x") is None
    assert t.dictionary("email") == dictionary  # a refused batch leaves no codes behind
    t._check()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ColumnTable("nope", SPECS, {}, tuple), "primary key 'nope'"),
        (lambda: ColumnTable("id", SPECS, {n: itemgetter(0) for n in NAMES}, tuple,
                             hashed=["zone"]), "column 'zone'"),
        (lambda: ColumnTable("id", SPECS, {n: itemgetter(0) for n in NAMES}, tuple,
                             ranged=["team"]), "range index 'team'"),
        (lambda: filled(1).query([Eq("zone", 1)]), "no column 'zone'"),
        (lambda: filled(1).query([], order_by="region"), "order_by 'region'"),
        (lambda: filled(1).find("region", "US"), "no unique index"),
        (lambda: filled(1).insert((5, "z@x", "US", 7, 1, "n")), "column 'team': 7"),
        (lambda: filled(1).insert((6, "y@x", "US", "t", 1.5, "n")), "column 'ts'"),
    ],
)  # fmt: skip
def test_bad_definitions_and_values_name_the_value(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_deletes_compact_and_dictionaries_forget_unused_values() -> None:
    t = filled(3000)
    for pk in range(0, 3000, 2):
        t.delete(pk)
    t.delete(1)  # past half retired: compacted
    assert t.dead == 0 and len(t) == 1499
    assert len(t.dictionary("email")) == 1499
    assert t.find("email", "u3@x") == (3, "u3@x", "US", "t3", 3, "n")
    t._check()


def test_drift_is_found_and_rebuild_repairs_it() -> None:
    t = filled(5000)
    region = t.indexes["region"]
    assert isinstance(region, colindex.SortedIndex) and region.built
    region.rows = region.rows[1:]  # an entry lost
    region.sorted_keys = region.sorted_keys[1:]
    t.primary.by_value[99_999] = 3  # an entry without its row
    problems = t.drift()
    assert any(p.startswith("index region") for p in problems), problems
    assert any("99999" in p for p in problems), problems
    with pytest.raises(AssertionError):
        t._check()
    t.rebuild_indexes()
    assert t.drift() == []
    t._check()


def test_load_refuses_what_export_never_writes() -> None:
    arrays, dictionaries = filled(10).export()
    bad_codes = {**arrays, "team": np.full(10, 99, dtype=np.int32)}
    twice = {**arrays, "id": np.zeros(10, dtype=np.int64)}
    for broken, message in ((bad_codes, "codes outside"), (twice, "'id' repeats")):
        t = filled(2)
        with pytest.raises(ValueError, match=message):
            t.load(broken, dictionaries)
        assert len(t) == 0
        t._check()


def test_a_stored_order_is_taken_only_when_it_sorts_its_index() -> None:
    t = filled(5000)
    t.delete(7)
    arrays, dictionaries = t.export()
    orders = t.index_orders()
    fresh = make_table()
    fresh.load(arrays, dictionaries, orders)
    assert fresh.query([Between("ts", 5, 12)]) == t.query([Between("ts", 5, 12)])
    fresh._check()
    swapped = orders["ts"].copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    for bad, message in ((swapped, "does not sort"), (orders["ts"][1:], "an order of 4998")):
        with pytest.raises(ValueError, match=message):
            make_table().load(arrays, dictionaries, {**orders, "ts": bad})


def test_nbytes_counts_columns_and_every_index() -> None:
    n = 2 * colindex.MIN_TAIL  # past the tail: every sorted index holds entries
    t = filled(n)
    stats = t.nbytes()
    assert stats.count == n
    assert set(stats.indexes) == {"email", "region", "region+team", "ts"}
    assert all(v >= n * 8 for v in stats.indexes.values())  # a row number each at least
    assert stats.rows >= n * (8 + 4 + 4 + 4 + 8 + 4 + 8)  # the arrays themselves
    assert stats.total == stats.rows + stats.primary + sum(stats.indexes.values())


@pytest.mark.parametrize(
    ("offset", "limit"), [(0, 50), (17, 50), (2900, 50), (2990, 50), (5000, 3)]
)
@pytest.mark.parametrize("reverse", [False, True])
def test_pages_of_a_big_bucket_by_text_key(offset: int, limit: int, reverse: bool) -> None:
    """Past SMALL_SORT matches a page is selected by key rank, not by a full sort."""
    getters = {n: itemgetter(i) for i, n in enumerate(NAMES)}
    specs = (ColumnSpec("id"), *SPECS[1:])
    t: ColumnTable[tuple[Any, ...]] = ColumnTable("id", specs, getters, lambda *v: tuple(v),
                                                  hashed=["region"])  # fmt: skip
    rows = [(f"k{(i * 7919) % 6000:05d}", None, "EU" if i % 2 else "US", "t", i, "n")
            for i in range(6000)]  # fmt: skip
    assert t.insert_many(rows) == []
    want = sorted((r for r in rows if r[2] == "EU"), reverse=reverse)
    got = t.query([Eq("region", "EU")], reverse=reverse, limit=limit, offset=offset)
    assert got == want[offset : offset + limit]
