"""Malformed records reject the whole batch; hostile filter values are harmless."""

from __future__ import annotations

from operator import methodcaller
from typing import Any

import pytest

from infertrace.errors import InvalidRecord
from infertrace.model import LogRecord, MetricPoint, MetricType
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter

from .conftest import START_NS, Both
from .data import load, span

BAD_SPANS = [
    {"trace_id": b"\x01" * 15},
    {"trace_id": b"\x00" * 16},
    {"trace_id": "01" * 16},
    {"span_id": b"\x00" * 8},
    {"span_id": b"\x01" * 9},
    {"parent_span_id": b"\x01" * 4},
    {"service_name": ""},
    {"operation_name": 5},
    {"start_time_unix_nano": -1},
    {"start_time_unix_nano": 2**63},
    {"duration_nanos": -5},
    {"duration_nanos": 1.5},
    {"batch_size": 2**31},
    {"input_tokens": -1},
    {"output_tokens": True},
    {"model_name": ""},
    {"gpu_utilization": float("nan")},
    {"attributes": {"": 1}},
    {"attributes": {"k": None}},
    {"attributes": {"k": [1, 2]}},
    {"attributes": {"k": {"nested": 1}}},
    {"resource_attributes": {"k": (1, [2])}},
    {"trace_state": None},
    {"trace_state": b"k=v"},
    {"flags": -1},
    {"flags": 2**32},
    {"flags": 1.0},
    {"dropped_attributes_count": -1},
    {"dropped_events_count": 2**31},
    {"dropped_links_count": None},
]


@pytest.mark.parametrize("bad", BAD_SPANS, ids=[repr(b)[:40] for b in BAD_SPANS])
def test_bad_span_rejects_whole_batch(both: Both, bad: dict[str, Any]) -> None:
    batch = [span(i) for i in range(5)]
    batch[3] = span(3, **bad)
    for store in (both.store, both.oracle):
        with pytest.raises(InvalidRecord) as exc:
            store.write_batch(batch)
        assert exc.value.index == 3
        assert store.list_spans(SpanFilter()) == []
    both.spans([span(9)])  # the store still works afterwards
    both.same(lambda s: s.list_spans(SpanFilter()))


@pytest.mark.parametrize("bad", BAD_SPANS, ids=[repr(b)[:40] for b in BAD_SPANS])
def test_bad_span_is_refused_by_the_record_path(both: Both, bad: dict[str, Any]) -> None:
    both.spans([span(0)])
    for store in (both.store, both.oracle):
        with pytest.raises(InvalidRecord) as exc:
            store.write(span(3, **bad))
        assert exc.value.index == 0
        assert [x.span_id for x in store.list_spans(SpanFilter())] == [span(0).span_id]
    for store in (both.store, both.oracle):
        store.write(span(9))  # the store still works afterwards
    both.same(lambda s: s.list_spans(SpanFilter()))


def test_not_a_span_is_rejected(each_store: Any) -> None:
    with pytest.raises(InvalidRecord) as exc:
        each_store.write_batch([span(1), "span"])
    assert exc.value.index == 1
    with pytest.raises(InvalidRecord) as exc:
        each_store.write("span")
    assert exc.value.index == 0
    assert each_store.list_spans(SpanFilter()) == []


BAD_LOGS = [
    LogRecord(-1, "svc"),
    LogRecord(START_NS, ""),
    LogRecord(START_NS, "svc", severity_number=25),
    LogRecord(START_NS, "svc", trace_id=b"\x01" * 3),
    LogRecord(START_NS, "svc", attributes={"k": object()}),  # type: ignore[dict-item]
]


@pytest.mark.parametrize("bad", BAD_LOGS)
def test_bad_log_rejects_whole_batch(each_store: Any, bad: LogRecord) -> None:
    with pytest.raises(InvalidRecord) as exc:
        each_store.write_logs([LogRecord(START_NS, "svc"), bad])
    assert exc.value.index == 1
    assert each_store.list_logs(LogFilter()) == []


BAD_POINTS = [
    MetricPoint("", MetricType.GAUGE, "svc", START_NS, value=1.0),
    MetricPoint("m", MetricType.GAUGE, "svc", START_NS),
    MetricPoint("m", MetricType.HISTOGRAM, "svc", START_NS, value=1.0),
    MetricPoint("m", 9, "svc", START_NS, value=1.0),  # type: ignore[arg-type]
    MetricPoint("m", MetricType.SUM, "", START_NS, value=1.0),
]


@pytest.mark.parametrize("bad", BAD_POINTS)
def test_bad_metric_point_rejects_whole_batch(each_store: Any, bad: MetricPoint) -> None:
    good = MetricPoint("m", MetricType.GAUGE, "svc", START_NS, value=1.0)
    with pytest.raises(InvalidRecord) as exc:
        each_store.write_metrics([good, good, bad])
    assert exc.value.index == 2
    assert each_store.list_metric_points(MetricFilter()) == []


INJECTIONS = [
    "' OR '1'='1",
    "x'; DROP TABLE spans; --",
    "api' --",
    '"; DELETE FROM logs; --',
    "%",
    "_",
    "\\",
    "$1",
    "%s",
    "%(name)s",
    "api\x00",
    "\ud800",
    "') OR TRUE OR ('",
    "k8s.pod.name' ->> 'x",
]


@pytest.mark.parametrize("evil", INJECTIONS, ids=[repr(v) for v in INJECTIONS])
def test_injection_in_every_filter_value_is_harmless(both: Both, evil: str) -> None:
    load(both, traces=10)
    asks = [
        lambda s: s.list_spans(SpanFilter(service_name=evil)),
        lambda s: s.list_spans(SpanFilter(model_name=evil)),
        lambda s: s.list_spans(SpanFilter(operation_name=evil)),
        lambda s: s.list_spans(SpanFilter(attributes={evil: "api"})),
        lambda s: s.list_spans(SpanFilter(attributes={"service.name": evil})),
        lambda s: s.list_spans(SpanFilter(attributes={"region": evil, evil: 1})),
        lambda s: s.operations(evil),
        lambda s: s.list_logs(LogFilter(service_name=evil)),
        lambda s: s.list_logs(LogFilter(body_contains=evil)),
        lambda s: s.list_metric_points(MetricFilter(name=evil)),
        lambda s: s.list_metric_points(MetricFilter(service_name=evil)),
        lambda s: s.list_metric_points(MetricFilter(attributes={evil: evil})),
        lambda s: s.timeseries("requests", 10**9, model_name=evil),
    ]
    for ask in asks:
        both.same(ask)
    # Nothing was dropped or deleted by the attempt.
    both.same(lambda s: s.list_spans(SpanFilter(limit=10_000)))
    both.same(lambda s: s.list_logs(LogFilter(limit=10_000)))


def test_hostile_values_are_stored_as_data(both: Both) -> None:
    evil = [v for v in INJECTIONS if "\x00" not in v and "\ud800" not in v]
    both.spans([span(i, service_name=v, attributes={v: v}) for i, v in enumerate(evil)])
    for v in evil:
        got = both.same(methodcaller("list_spans", SpanFilter(service_name=v)))
        assert [x.attributes[v] for x in got] == [v]
        both.same(methodcaller("list_spans", SpanFilter(attributes={v: v})))
