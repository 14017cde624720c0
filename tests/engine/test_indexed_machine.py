"""IndexedTable against a plain model (a list of dicts), step by step (hypothesis).

Rows are tuples ``(id, email, region, team, ts, note)``; the table has a unique
index on email, hash indexes on region and on (region, team), a range index on
ts and none on note. After every insert, batch, update or delete, ``_check()``
holds and every query in :data:`QUERIES` (each access path, with and without
order, limit and offset) answers what filtering and sorting the model answers.
"""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from infertrace.engine.indexed import IndexedTable, tuple_columns
from infertrace.engine.planner import Between, Eq, Predicate

NAMES = ("id", "email", "region", "team", "ts", "note")
IDS = st.integers(0, 12)
EMAILS = st.sampled_from(["a@x", "b@x", "c@x", "d@x", None])
REGIONS = st.sampled_from(["US", "EU"])
TEAMS = st.sampled_from(["t1", "t2"])
TIMES = st.one_of(st.none(), st.integers(0, 9))
NOTES = st.sampled_from(["n1", "n2"])
ROWS = st.tuples(IDS, EMAILS, REGIONS, TEAMS, TIMES, NOTES)

QUERIES: list[tuple[list[Predicate], str | None]] = [
    ([], None),
    ([Eq("email", "a@x")], None),
    ([Eq("region", "EU")], None),
    ([Eq("region", "US"), Eq("team", "t2")], None),
    ([Eq("region", "US"), Eq("note", "n1")], None),
    ([Eq("note", "n2")], None),
    ([Between("ts", 2, 7)], None),
    ([Between("ts", 2, 7)], "ts"),
    ([Between("ts", None, 5), Eq("region", "EU")], "ts"),
    ([Between("ts", 3)], None),
    ([Eq("team", "t1")], "ts"),
    ([Eq("email", None)], None),
]
PAGES = [(None, 0), (3, 0), (2, 1), (4, 3), (None, 5)]


def make_table() -> IndexedTable[tuple[Any, ...]]:
    return IndexedTable(
        "id", tuple_columns(NAMES), unique=["email"], hashed=["region", ("region", "team")],
        ranged=["ts"],
    )  # fmt: skip


def expected(model: dict[int, tuple[Any, ...]], where: list[Predicate], order_by: str | None,
             reverse: bool) -> list[tuple[Any, ...]]:  # fmt: skip
    """Filter and sort the model by hand: the oracle."""

    def ok(row: tuple[Any, ...]) -> bool:
        for p in where:
            value = row[NAMES.index(p.column)]
            if isinstance(p, Eq) and value != p.value:
                return False
            if isinstance(p, Between) and (
                value is None
                or (p.low is not None and value < p.low)
                or (p.high is not None and value >= p.high)
            ):
                return False
        return True

    found = [r for r in model.values() if ok(r)]
    if order_by is None:
        return sorted(found, key=lambda r: r[0], reverse=reverse)
    i = NAMES.index(order_by)
    return sorted((r for r in found if r[i] is not None), key=lambda r: (r[i], r[0]),
                  reverse=reverse)  # fmt: skip


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

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.table._check()
        assert len(self.table) == len(self.model)
        for where, order_by in QUERIES:
            for reverse in (False, True):
                want = expected(self.model, where, order_by, reverse)
                assert self.table.count(where) == len(expected(self.model, where, None, False)), (
                    where
                )
                for limit, offset in PAGES:
                    got = self.table.query(where, order_by=order_by, reverse=reverse,
                                           limit=limit, offset=offset)  # fmt: skip
                    stop = None if limit is None else offset + limit
                    assert got == want[offset:stop], (where, order_by, reverse, limit, offset)


TestIndexedTableMachine = TableMachine.TestCase
TestIndexedTableMachine.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
