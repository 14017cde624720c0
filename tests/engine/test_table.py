"""RingTable: a plain list model says what every step must leave; state() rebuilds exactly."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from infertrace.engine.table import OBJECT, Column, RingTable, TableSpec

SPEC = TableSpec(
    (
        Column("t", "int64"),
        Column("id", "uint8", (4,)),
        Column("svc", "int32", dictionary="strings"),
        Column("op", "int32", dictionary="strings"),
        Column("tokens", "int32", fill=-1),
        Column("extra", OBJECT, fill=None),
    )
)
Row = tuple[int, bytes, str, str | None, int, Any]


def batch(rows: list[Row]) -> dict[str, Any]:
    return {
        "t": [r[0] for r in rows],
        "id": np.frombuffer(b"".join(r[1] for r in rows), np.uint8).reshape(-1, 4),
        "svc": [r[2] for r in rows],
        "op": [r[3] for r in rows],
        "tokens": [r[4] for r in rows],
        "extra": [r[5] for r in rows],
    }


def read(table: RingTable) -> list[tuple[int, Row]]:
    out = []
    for seq in table.live().tolist():
        out.append((seq, (
            int(table.value("t", seq)), bytes(table.value("id", seq)), table.value("svc", seq),
            table.value("op", seq), int(table.value("tokens", seq)), table.value("extra", seq),
        )))  # fmt: skip
    return out


rows = st.tuples(
    st.integers(0, 2**62),
    st.binary(min_size=4, max_size=4),
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([None, "x", "y"]),
    st.integers(-1, 2**31 - 1),
    st.one_of(st.none(), st.tuples(st.integers())),
)


class TableMachine(RuleBasedStateMachine):
    """The table against a model: a list of (seq, row, receive time) plus an eviction log."""

    def __init__(self) -> None:
        super().__init__()
        self.capacity = 5
        self.evictions: list[tuple[int, int, list[Any]]] = []
        self.table = RingTable(SPEC, self.capacity, self._on_evict)
        self.model: list[tuple[int, Row, int]] = []
        self.head = 0
        self.evicted = 0
        self.now = 0

    def _on_evict(self, lo: int, hi: int) -> None:
        # the evicted rows' columns are still readable when the listener runs
        self.evictions.append((lo, hi, [self.table.value("svc", s) for s in range(lo, hi)]))

    def _expect_evicted(self, n: int) -> None:
        gone, self.model = self.model[:n], self.model[n:]
        if gone:
            lo, hi, svcs = self.evictions.pop(0)
            assert (lo, hi) == (gone[0][0], gone[-1][0] + 1)
            assert svcs == [r[2] for _, r, _ in gone]
        self.evicted += n
        assert not self.evictions

    @rule(new=st.lists(rows, min_size=0, max_size=8), dt=st.integers(0, 3))
    def append(self, new: list[Row], dt: int) -> None:
        self.now += dt
        first = self.table.append(batch(new), self.now)
        if not new:
            return
        keep = new[-self.capacity :]
        cut = len(new) - len(keep)
        overflow = len(self.model) + len(keep) - self.capacity
        if cut:  # a batch bigger than the ring replaces everything
            self._expect_evicted(len(self.model))
            self.evicted += cut
        elif overflow > 0:
            self._expect_evicted(overflow)
        assert first == self.head  # rows cut from an oversized batch take no sequence number
        self.head += len(keep)
        self.model += [(first + i, r, self.now) for i, r in enumerate(keep)]

    @rule(back=st.integers(0, 4))
    def purge(self, back: int) -> None:
        cutoff = self.now - back
        n = self.table.purge(cutoff)
        count = 0
        for _, _, when in self.model:
            if when >= cutoff:
                break
            count += 1
        assert n == count
        self._expect_evicted(count)

    @precondition(lambda self: len(self.table) > 0)
    @rule()
    def restore(self) -> None:
        """A table rebuilt from state() is the same table from here on."""
        state = self.table.state()
        self.table = RingTable.from_state(SPEC, state, self._on_evict)
        assert self.table.state()["dictionaries"] == state["dictionaries"]

    @invariant()
    def matches_model(self) -> None:
        self.table._check()
        assert read(self.table) == [(seq, row) for seq, row, _ in self.model]
        assert self.table.ring.evicted == self.evicted
        assert len(self.table) == len(self.model)


TableMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
test_table_machine = TableMachine.TestCase


def test_dictionary_entries_leave_with_their_last_row() -> None:
    table = RingTable(SPEC, 2)
    table.append(batch([(1, b"1111", "a", "x", 1, None), (2, b"2222", "b", None, 2, None)]), 0)
    table.append(batch([(3, b"3333", "b", None, 3, None)]), 0)  # evicts the only "a" and "x"
    strings = table.dicts["strings"]
    assert strings.get("a") is None and strings.get("x") is None
    assert strings.refcount(strings.get("b")) == 2  # type: ignore[arg-type]
    table._check()


def test_a_bad_value_changes_nothing() -> None:
    table = RingTable(SPEC, 4)
    table.append(batch([(1, b"1111", "a", "x", 1, None)]), 0)
    before = table.state()
    bad = batch([(2, b"2222", "b", "y", 2, None)])
    bad["t"] = ["not a number"]
    with pytest.raises(ValueError):
        table.append(bad, 1)
    after = table.state()
    assert after["dictionaries"] == before["dictionaries"] and after["head"] == before["head"]
    table._check()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: TableSpec((Column("a"), Column("a"))), "unique"),
        (lambda: Column("s", "int64", dictionary="d"), "int32"),
    ],
)
def test_bad_specs(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_state_with_wrong_row_counts_is_refused() -> None:
    table = RingTable(SPEC, 3)
    table.append(batch([(1, b"1111", "a", "x", 1, None)]), 0)
    state = table.state()
    state["columns"]["t"] = state["columns"]["t"][:0]
    with pytest.raises(ValueError, match="holds 0 rows"):
        RingTable.from_state(SPEC, state)


def test_dictionary_columns_take_codes_the_caller_made() -> None:
    table = RingTable(SPEC, 2)
    strings = table.dicts["strings"]
    rows = batch([(1, b"1111", "a", "x", 1, None), (2, b"2222", "b", None, 2, None),
                  (3, b"3333", "c", "x", 3, None)])  # fmt: skip
    rows["svc"] = np.array(strings.codes(["a", "b", "c"]), np.int32)  # 3 rows, ring of 2
    table.append(rows, 0)
    assert [table.value("svc", s) for s in table.live().tolist()] == ["b", "c"]
    strings.drop_unused(strings.codes(["a"]))  # the caller's code for the cut row
    table._check()


def _wrapped_table() -> RingTable:
    """A table whose ring wrapped and whose dictionary has freed and reused codes."""
    table = RingTable(SPEC, 3)
    for i in range(7):
        svc, op = f"s{i % 4}", (None if i % 2 else f"o{i}")
        table.append(batch([(i, bytes([i]) * 4, svc, op, i, (i,) if i % 3 else None)]), i)
    return table


def _corrupt_codes(state: dict[str, Any]) -> None:
    state["columns"]["svc"] = state["columns"]["svc"] + 50


def _unused_value(state: dict[str, Any]) -> None:
    state["dictionaries"]["strings"] = [*state["dictionaries"]["strings"], "nobody"]
    state["dictionary_ranks"] = {}


def _bad_shape(state: dict[str, Any]) -> None:
    state["columns"]["id"] = state["columns"]["id"][:, :2]


def _too_many_rows(state: dict[str, Any]) -> None:
    state["head"] = state["tail"] + 4


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_corrupt_codes, "codes beyond its dictionary"),
        (_unused_value, "does not match the codes"),
        (_bad_shape, "shape"),
        (_too_many_rows, "for capacity 3"),
    ],
)
def test_an_inconsistent_state_is_refused(damage: Any, message: str) -> None:
    state = _wrapped_table().state()
    damage(state)
    with pytest.raises(ValueError, match=message):
        RingTable.from_state(SPEC, state)


def test_a_restored_table_codes_new_values_as_the_original() -> None:
    original = _wrapped_table()
    restored = RingTable.from_state(SPEC, original.state(), check=True)
    assert restored.ring.spans(restored.ring.tail, restored.ring.head) == original.ring.spans(
        original.ring.tail, original.ring.head
    )
    more = batch([(9, b"9999", "new", "s1", 9, None), (10, b"aaaa", "s0", "other", 1, "x")])
    for t in (original, restored):
        t.append(more, 99)
        t._check()
    assert restored.state()["dictionaries"] == original.state()["dictionaries"]
    for name in ("svc", "op"):
        assert np.array_equal(restored.cols[name], original.cols[name]), name
