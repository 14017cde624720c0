"""Column batches: the same records as a list, read back exactly, built only when read."""

from __future__ import annotations

from typing import Any

import pytest

from infertrace.errors import InvalidRecord
from infertrace.model import EMPTY_ATTRIBUTES
from infertrace.telemetry.batches import ColumnBatch, LogBatch, MetricBatch, SpanBatch
from infertrace.workload import Workload


def _records(kind: str, n: int) -> list[Any]:
    w = Workload(seed=3)
    return {"spans": w.spans, "logs": w.logs, "metrics": w.metrics}[kind](n)


BATCHES: list[tuple[str, type[ColumnBatch[Any]]]] = [
    ("spans", SpanBatch),
    ("logs", LogBatch),
    ("metrics", MetricBatch),
]


@pytest.mark.parametrize(("kind", "cls"), BATCHES)
def test_of_records_reads_back_the_same_records(kind: str, cls: type[ColumnBatch[Any]]) -> None:
    records = _records(kind, 40)
    batch = cls.of(records)
    assert len(batch) == len(records)
    assert batch == records and batch.records() == records and list(batch) == records
    assert batch[0] == records[0] and batch[-1] == records[-1] and batch[3:7] == records[3:7]
    assert cls.of(batch) is batch
    assert cls.from_rows(list(batch.rows())) == batch
    for name in cls.schema.names:
        assert list(batch.column(name)) == [getattr(r, name) for r in records]


@pytest.mark.parametrize(("kind", "cls"), BATCHES)
def test_select_keeps_the_chosen_records_in_order(kind: str, cls: type[ColumnBatch[Any]]) -> None:
    records = _records(kind, 12)
    keep = [11, 0, 5, 6]
    assert cls.of(records).select(keep) == [records[i] for i in keep]
    assert len(cls.of(records).select([])) == 0


@pytest.mark.parametrize(("kind", "cls"), BATCHES)
def test_empty_batches(kind: str, cls: type[ColumnBatch[Any]]) -> None:
    for empty in (cls.empty(), cls.of([]), cls.from_rows([])):
        assert len(empty) == 0 and empty == [] and empty.resources() == []
        with pytest.raises(IndexError):
            empty[0]


def test_resources_are_the_distinct_map_objects_in_first_seen_order() -> None:
    spans = _records("spans", 30)
    batch = SpanBatch.of(spans)
    got = batch.resources()
    assert len({id(m) for m in got}) == len(got)
    assert {id(m) for m in got} == {id(s.resource_attributes) for s in spans}
    assert got[0] is spans[0].resource_attributes


@pytest.mark.parametrize(
    ("items", "bad"),
    [([object()], 0), (["span"], 0), ([None], 0)],
)
def test_an_item_that_is_not_a_record_is_named(items: list[Any], bad: int) -> None:
    spans = _records("spans", 2) + items
    with pytest.raises(InvalidRecord) as info:
        SpanBatch.of(spans)
    assert info.value.problems[0][0] == 2 + bad
    assert "not a Span" in str(info.value)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (((),) * 3, f"needs {len(SpanBatch.schema.names)} columns"),
        (((b"x",),) + ((),) * (len(SpanBatch.schema.names) - 1), "differ in length"),
    ],
)
def test_malformed_columns_are_refused(columns: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpanBatch(columns)


def test_a_batch_is_not_equal_to_other_records_or_other_types() -> None:
    spans = _records("spans", 3)
    assert SpanBatch.of(spans) != spans[:2]
    assert SpanBatch.of(spans) != LogBatch.of(_records("logs", 3))
    assert SpanBatch.of(spans) != "spans"
    assert SpanBatch.of([]).column("attributes") == () and EMPTY_ATTRIBUTES == {}
