"""Capture and restore of the memory store's tables through real snapshot files: the
restored store answers every query as the original and evicts, purges and codes
new values as it would have."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infertrace import MemoryStore
from infertrace.engine import snapfile
from infertrace.engine.journal import APPLIED_LSN, Durable
from infertrace.engine.snapfile import TableState
from infertrace.telemetry.memory import extras
from tests.telemetry.memory.kit import (
    RICH_SIGNALS,
    ListJournal,
    answers,
    assert_same_answers,
    rich_logs,
    rich_spans,
    write,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000_000_000_000

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


def _through_files(tmp_path: Path, states: Any) -> Any:
    snapfile.save(tmp_path, states, lsn=1)
    snap = snapfile.load_latest(tmp_path)
    assert snap is not None
    return snap.tables


def test_memory_store_is_durable() -> None:
    store: Durable = MemoryStore()
    assert list(store.table_names()) == ["spans", "logs", "metrics"]


@pytest.mark.parametrize(("table", "make"), RICH_SIGNALS)
@pytest.mark.parametrize("batches", [0, 1, 3, 9])  # empty, partial, wrapped several times
def test_a_restored_store_answers_and_behaves_as_the_original(
    tmp_path: Path, table: str, make: Callable[[int, int], Sequence[Any]], batches: int
) -> None:
    clock = Clock()
    original = MemoryStore(70, 60, 65, clock=clock)
    journal = ListJournal()
    original.attach(journal)
    for i in range(batches):
        write(original, table, make(i, 25))
    if batches > 2:
        clock.now += 10**12
        write(original, table, make(50, 25))
        original.purge_older_than(10**12 / 2e9)  # the older batches go: a TTL purge
    states = _through_files(tmp_path, original.capture())
    assert {ts.meta[APPLIED_LSN] for ts in states.values()} <= {0, len(journal.records)}
    assert states[table].meta[APPLIED_LSN] == len(journal.records)

    restored = MemoryStore(1, 1, 1, clock=clock)  # capacities come from the states
    restored.restore(states)
    restored._check()
    assert_same_answers(answers(restored), answers(original))
    assert restored.capture()[table].meta[APPLIED_LSN] == len(journal.records)

    # both go on alike: more writes (evictions by capacity, reused dictionary codes)
    # and a TTL purge at the same clock
    twin = Clock()
    original.attach(None)  # from here on only the tables are compared, not LSNs
    for store in (original, restored):
        twin.now = clock.now
        store._clock = twin
        for i in range(3):
            write(store, table, make(100 + i, 30))
        twin.now += 10**12
        write(store, table, make(200, 10))
        store.purge_older_than(10**12 / 2e9)
        store._check()
    assert_same_answers(answers(restored), answers(original))
    for name in ("spans", "logs", "metrics"):
        a = original.capture()[name]
        b = restored.capture()[name]
        assert a.meta == b.meta, name
        for part, cols in a.parts.items():
            for col, values in cols.items():
                other = b.parts[part][col]
                if isinstance(values, np.ndarray):
                    assert np.array_equal(values, other, equal_nan=True), (name, part, col)
                else:
                    assert list(values) == list(other), (name, part, col)


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.12g}")
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        fields = [getattr(x, f.name) for f in dataclasses.fields(x)]
        return (type(x).__name__, _rounded(fields))
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v) for v in x]
    return x


def test_a_table_missing_from_the_states_starts_empty(tmp_path: Path) -> None:
    original = MemoryStore()
    original.write_batch(rich_spans(1, 10))
    original.write_logs(rich_logs(1, 10))
    states = dict(original.capture())
    del states["logs"]
    restored = MemoryStore(log_capacity=33)
    restored.write_logs(rich_logs(2, 5))
    restored.restore(states)
    assert restored.stats().spans.count == 10
    assert (restored.stats().logs.count, restored.stats().logs.capacity) == (0, 33)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: s.pop("chain"), "spans table's state is unusable.*chain"),
        (lambda s: s.update(zone={"lo": np.zeros(5, np.int64), "hi": np.zeros(5, np.int64)}),
         "zone map of 5 chunks"),
        (lambda s: s["attr.arena"].update(value=np.zeros(1)), "arena holds 1 values"),
        (lambda s: s["dict.strings"].update(value=["x"] * len(s["dict.strings"]["value"])),
         "distinct|does not match"),
    ],
)  # fmt: skip
def test_an_unusable_state_is_refused_and_the_store_left_as_it_was(
    damage: Callable[[dict[str, Any]], Any], message: str
) -> None:
    original = MemoryStore()
    original.write_batch(rich_spans(1, 30))
    states = dict(original.capture())
    ts = states["spans"]
    parts = {k: dict(v) for k, v in ts.parts.items()}
    damage(parts)
    states["spans"] = TableState(ts.meta, parts)
    target = MemoryStore()
    target.write_batch(rich_spans(2, 7))
    before = answers(target)
    with pytest.raises(ValueError, match=message):
        target.restore(states)
    assert_same_answers(answers(target), before)


def test_unknown_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="widgets"):
        MemoryStore().restore({"widgets": MemoryStore().capture()["spans"]})


@pytest.mark.parametrize("n", [0, 1, 40])
def test_span_extras_round_trip_through_their_parts(n: int) -> None:
    store = MemoryStore()
    if n:
        store.write_batch(rich_spans(5, n))
    column = store._spans.table.state()["columns"]["extras"]
    rebuilt = extras.from_parts(extras.to_parts(column), len(column))
    assert rebuilt == column
    assert [type(x) for x in rebuilt] == [type(x) for x in column]
    assert n == 0 or any(x is not None and len(x) > 3 for x in column)  # the long form too


def test_span_extras_refuse_counts_that_do_not_add_up() -> None:
    store = MemoryStore()
    store.write_batch(rich_spans(5, 20))
    parts = extras.to_parts(store._spans.table.state()["columns"]["extras"])
    parts["extras"]["events"] = parts["extras"]["events"] + 1
    with pytest.raises(ValueError, match="more events or links"):
        extras.from_parts(parts, 20)


@pytest.mark.parametrize(("table", "make"), RICH_SIGNALS)
@pytest.mark.parametrize("capacities", [(25, 20, 22), (200, 150, 170), (70, 60, 65)])
def test_a_resized_store_keeps_the_newest_rows_it_can_hold(
    table: str, make: Callable[[int, int], Sequence[Any]], capacities: tuple[int, int, int]
) -> None:
    original = MemoryStore(70, 60, 65)
    for i in range(4):
        write(original, table, make(i, 30))
    restored = MemoryStore(1, 1, 1)
    restored.restore(original.capture())
    assert restored.stats().spans.capacity == 70  # restore keeps the snapshot's capacities
    restored.resize(*capacities)
    restored._check()
    # the oracle: the original after evicting, as its ring does, what the smaller ring
    # cannot hold; its answers are then the restored store's, capacities aside
    tables: tuple[Any, ...] = (original._spans, original._logs, original._metrics)
    for t, cap in zip(tables, capacities, strict=True):
        ring = t.table.ring
        if len(ring) > cap:
            t.table.evict_to(ring.head - cap)
    original._check()
    got, want = answers(restored), answers(original)
    for name, cap in zip(("spans", "logs", "metrics"), capacities, strict=True):
        assert got[f"stats {name}"][0] == cap
        got[f"stats {name}"], want[f"stats {name}"] = (
            got[f"stats {name}"][1:],
            want[f"stats {name}"][1:],
        )
    # rows sit in other slots now: float sums over them may differ in the last bit
    assert_same_answers(_rounded(got), _rounded(want))
    before = getattr(restored.stats(), table).count
    write(restored, table, make(9, 40))  # and it fills to its own capacity
    restored._check()
    stored = getattr(restored.stats(), table)
    assert stored.count == min(capacities[("spans", "logs", "metrics").index(table)], before + 40)


def test_a_resize_refuses_an_empty_ring() -> None:
    with pytest.raises(ValueError, match="logs capacity must be at least 1, got 0"):
        MemoryStore().resize(log_capacity=0)
