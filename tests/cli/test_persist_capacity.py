"""A restart over a data directory honours the capacities it is started with.

A snapshot keeps the ring capacities it was taken with; serve hands the data
directory ``configured_capacities`` so the restored store takes the configured
ones before anything new is logged. The expected spans are computed here: a ring
keeps the newest ``capacity`` spans in write order.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infertrace import MemoryStore
from infertrace.cli.persist import configured_capacities, open_data_dir
from infertrace.config import Settings
from infertrace.telemetry.filters import SpanFilter
from tests.telemetry.factories import span


def _settings(path: Path, spans: int) -> Settings:
    return Settings(data_dir=str(path), span_capacity=spans, fsync="off")


def _span_ids(store: MemoryStore) -> set[bytes]:
    return {s.span_id for s in store.list_spans(SpanFilter(limit=10_000))}


CASES = [(100, 10, 60, True), (100, 10, 60, False), (10, 50, 30, True), (10, 50, 30, False),
         (40, 40, 70, True), (40, 40, 70, False)]  # fmt: skip
"""(first capacity, second capacity, spans written, snapshot at exit). Without the
final snapshot (a crash) the second start replays the whole log: the capacity logged
at attach makes the replay evict as the first run did, even into a larger ring."""


@pytest.mark.parametrize(("first", "second", "written", "snapshot_at_exit"), CASES)
def test_restart_takes_the_configured_capacity(
    tmp_path: Path, first: int, second: int, written: int, snapshot_at_exit: bool
) -> None:
    batches = [[span(i, i)] for i in range(written)]
    settings = _settings(tmp_path, first)
    store = MemoryStore(span_capacity=first)
    data_dir = open_data_dir(settings, [store], configured_capacities(store, settings))
    assert data_dir is not None
    for batch in batches:
        store.write_batch(batch)
    data_dir.close(snapshot=snapshot_at_exit)

    settings = _settings(tmp_path, second)
    restored = MemoryStore(span_capacity=second)
    data_dir = open_data_dir(settings, [restored], configured_capacities(restored, settings))
    assert data_dir is not None
    try:
        kept = min(written, first, second)
        want = {b[0].span_id for b in batches[written - kept :]}
        assert _span_ids(restored) == want
        assert restored.stats().spans.capacity == second
        restored.write_batch([span(10_000, 10_000)])  # later writes evict at the new size
        assert len(_span_ids(restored)) == min(kept + 1, second)
    finally:
        data_dir.close()
