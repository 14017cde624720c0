"""The logged form of memory-store writes: exact round trips, replay to the same
store, and a journal that refuses a record giving LogUnavailable with nothing stored."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from infertrace import MemoryStore
from infertrace.errors import InvalidRecord, LogUnavailable
from infertrace.telemetry.batches import LogBatch, MetricBatch, SpanBatch
from infertrace.telemetry.memory import durable
from tests.telemetry.factories import span
from tests.telemetry.memory.kit import (
    RICH_SIGNALS,
    ListJournal,
    answers,
    assert_same_answers,
    rich_logs,
    rich_points,
    rich_spans,
    write,
)

SIGNALS: list[tuple[str, Callable[[int, int], Sequence[Any]], Any]] = [
    (table, make, batch)
    for (table, make), batch in zip(RICH_SIGNALS, (SpanBatch, LogBatch, MetricBatch), strict=True)
]


@pytest.mark.parametrize(("table", "make", "batch_type"), SIGNALS)
@pytest.mark.parametrize("as_batch", [False, True])
def test_a_write_record_decodes_to_the_same_records(
    table: str, make: Callable[[int, int], Sequence[Any]], batch_type: Any, as_batch: bool
) -> None:
    records = make(7, 60)
    given = batch_type.of(records) if as_batch else records
    record = durable.stamp(durable.encode_write(table, given), 1234, 777)
    logged = durable.decode(table, bytes(record))
    assert logged.kind == durable.WRITE and logged.time == 1234 and logged.capacity == 777
    assert logged.batch is not None and not logged.batch.checked
    assert logged.batch.records() == list(records)
    # value types survive, not just equality (1 == 1.0 == True)
    for got, want in zip(logged.batch.records(), records, strict=True):
        for k, v in want.attributes.items():
            assert type(got.attributes[k]) is type(v), k


@pytest.mark.parametrize(("capacity", "kept"), [(1, 1), (2**32 - 1, 2**32 - 1), (2**32, 0)])
def test_a_write_record_carries_its_ring_capacity(capacity: int, kept: int) -> None:
    record = durable.stamp(durable.encode_write("spans", rich_spans(1, 2)), 5, capacity)
    assert durable.decode("spans", bytes(record)).capacity == kept  # 0: not recorded


def test_checked_flag_travels_with_the_batch() -> None:
    batch = SpanBatch(SpanBatch.of(rich_spans(1, 5)).columns, checked=True)
    logged = durable.decode("spans", durable.encode_write("spans", batch))
    assert logged.batch is not None and logged.batch.checked


def test_a_purge_record_carries_its_cutoff() -> None:
    logged = durable.decode("logs", durable.encode_purge(-5))
    assert (logged.kind, logged.time, logged.batch) == (durable.PURGE, -5, None)


_GOOD = bytes(durable.encode_write("spans", rich_spans(2, 3)))


@pytest.mark.parametrize(
    ("table", "payload", "message"),
    [
        ("spans", b"\x01W", "shorter than its header"),
        ("spans", b"\x02" + _GOOD[1:], "format version 2"),
        ("spans", _GOOD[:1] + b"Q" + _GOOD[2:], "unknown kind 0x51"),
        ("spans", _GOOD[:16] + b"\xff\x00", "not a batch"),
        ("spans", _GOOD[:-3], "not a batch"),
        ("logs", _GOOD, "not a batch|not 10 columns"),
        ("widgets", _GOOD, "no memory-store table is named 'widgets'"),
        ("spans", struct.pack("<BBB5xq", 1, ord("W"), 0, 0) + b"\xe9\x00", "not .*columns|batch"),
    ],
)
def test_a_damaged_record_is_refused_naming_the_problem(
    table: str, payload: bytes, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        durable.decode(table, payload)


@pytest.mark.parametrize(("table", "make", "batch_type"), SIGNALS)
def test_replaying_the_journal_rebuilds_the_same_store(
    table: str, make: Callable[[int, int], Sequence[Any]], batch_type: Any
) -> None:
    journal = ListJournal()
    clock = iter(range(10**18, 10**18 + 10**6, 1000))
    live = MemoryStore(50, 40, 45, clock=lambda: next(clock))
    live.attach(journal)
    for i in range(6):  # enough to wrap every ring
        write(live, table, make(i, 20))
    live.purge_older_than(1e-6)  # everything: logged as a purge...
    write(live, table, make(99, 20))  # ...then more rows
    kinds = [durable.decode(t, p).kind for t, p in journal.records]
    assert kinds.count(durable.PURGE) == 1 and len(kinds) == 8
    replayed = MemoryStore(50, 40, 45, clock=lambda: 0)  # never read: times are logged
    journal.replay_into(replayed)
    replayed._check()
    assert_same_answers(answers(replayed), answers(live))


def test_a_refused_batch_is_refused_again_on_replay() -> None:
    journal = ListJournal()
    live = MemoryStore()
    live.attach(journal)
    bad = [span(1, 1, attributes={"": 1})]  # an empty attribute key: refused under the lock
    with pytest.raises(InvalidRecord):
        live.write_batch(bad)
    live.write_batch([span(1, 2)])
    assert len(journal.records) == 2  # logged before the lock's checks refused it
    replayed = MemoryStore()
    journal.replay_into(replayed)
    assert_same_answers(answers(replayed), answers(live))
    assert replayed.stats().spans.count == 1


def test_a_record_at_or_below_the_applied_lsn_is_not_applied_twice() -> None:
    journal = ListJournal()
    live = MemoryStore()
    live.attach(journal)
    live.write_batch(rich_spans(3, 10))
    replayed = MemoryStore()
    journal.replay_into(replayed)
    journal.replay_into(replayed)  # again: every LSN is at or below the applied one
    assert replayed.stats().spans.count == live.stats().spans.count == 10


@pytest.mark.parametrize(("table", "make", "batch_type"), SIGNALS)
def test_a_journal_that_refuses_the_record_stores_nothing(
    table: str, make: Callable[[int, int], Sequence[Any]], batch_type: Any
) -> None:
    journal = ListJournal()
    store = MemoryStore()
    store.attach(journal)
    write(store, table, make(1, 5))
    before = answers(store)
    journal.fail_append = True
    with pytest.raises(LogUnavailable, match=r"No space left on device.*seg-1.*nothing was stored"):
        write(store, table, make(2, 5))
    assert_same_answers(answers(store), before)
    assert len(journal.records) == 1
    journal.fail_append = False
    write(store, table, make(2, 5))  # the disk is back: writes go on
    assert len(journal.records) == 2


def test_a_failed_fsync_is_not_acknowledged() -> None:
    journal = ListJournal()
    store = MemoryStore()
    store.attach(journal)
    journal.fail_wait = True
    with pytest.raises(LogUnavailable, match="could not be made durable: Input/output error"):
        store.write_logs(rich_logs(1, 3))


def test_a_purge_the_journal_refuses_purges_nothing() -> None:
    journal = ListJournal()
    now = [10**18]
    store = MemoryStore(clock=lambda: now[0])
    store.attach(journal)
    store.write_batch(rich_spans(1, 5))
    now[0] += 10**10
    journal.fail_append = True
    with pytest.raises(LogUnavailable):
        store.purge_older_than(1.0)
    assert store.stats().spans.count == 5
    journal.fail_append = False
    assert store.purge_older_than(1.0) == 5
    assert durable.decode(*journal.records[-1]).kind == durable.PURGE


def test_a_purge_with_nothing_to_purge_logs_nothing() -> None:
    journal = ListJournal()
    store = MemoryStore()
    store.attach(journal)
    store.write_batch(rich_spans(1, 5))
    assert store.purge_older_than(3600.0) == 0
    assert len(journal.records) == 1


def test_detached_store_logs_nothing() -> None:
    journal = ListJournal()
    store = MemoryStore()
    store.attach(journal)
    store.attach(None)
    store.write_batch(rich_spans(1, 5))
    store.write_logs(rich_logs(1, 5))
    store.write_metrics(rich_points(1, 5))
    assert journal.records == []


@pytest.mark.parametrize(("table", "make", "batch_type"), SIGNALS)
def test_batches_larger_than_the_ring_and_redeliveries_replay_alike(
    table: str, make: Callable[[int, int], Sequence[Any]], batch_type: Any
) -> None:
    journal = ListJournal()
    live = MemoryStore(30, 25, 28)
    live.attach(journal)
    first = make(1, 70)  # more than any ring holds: its oldest rows go at once
    write(live, table, first)
    states = live.capture()
    write(live, table, first[-10:])  # redelivered (spans keep the first copy)
    write(live, table, make(2, 5))
    restored = MemoryStore(30, 25, 28)
    restored.restore(states)
    journal.replay_into(restored)
    restored._check()
    assert_same_answers(answers(restored), answers(live))
    stored = {"spans": live.stats().spans, "logs": live.stats().logs}.get(table)
    if stored is not None:  # the ring is full and counted every row it let go
        assert stored.count == stored.capacity
        assert stored.evicted == 70 + 10 + 5 - stored.capacity - (10 if table == "spans" else 0)
