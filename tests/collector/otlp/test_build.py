from __future__ import annotations

import dataclasses

import pytest

from infertrace.collector.otlp.build import builder, new_log, new_point, new_span
from infertrace.model import (
    HistogramData,
    LogRecord,
    MetricPoint,
    MetricType,
    Span,
    SpanEvent,
    SpanKind,
    StatusCode,
)
from infertrace.workload import Workload


def _positional(record: object) -> list[object]:
    return [getattr(record, f.name) for f in dataclasses.fields(record)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "record"),
    [
        (new_span, Workload(seed=1).trace()[0]),
        (new_span, Workload(seed=2).trace()[3]),
        (
            new_span,
            Span(
                b"t" * 16,
                b"s" * 8,
                "svc",
                "op",
                5,
                7,
                kind=SpanKind.CLIENT,
                status_code=StatusCode.ERROR,
                events=(SpanEvent("e", 6),),
            ),
        ),
        (new_log, Workload(seed=3).logs(1)[0]),
        (new_point, Workload(seed=4).metrics(3)[2]),
        (
            new_point,
            MetricPoint("m", MetricType.SUMMARY, "svc", 9, histogram=HistogramData(count=2)),
        ),
    ],
)
def test_builders_make_records_equal_to_the_constructor(build: object, record: object) -> None:
    built = build(*_positional(record))  # type: ignore[operator]
    assert type(built) is type(record)
    assert built == record
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.service_name = "changed"  # type: ignore[attr-defined]


def test_builder_refuses_an_order_that_is_not_the_models() -> None:
    order = tuple(f.name for f in dataclasses.fields(LogRecord))
    with pytest.raises(TypeError, match="fields are"):
        builder(LogRecord, order[::-1])
