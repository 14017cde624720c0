"""The decoders reject with telemetry/validate.py's words: one source of rules."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from infertrace.collector.otlp.decode_logs import LogDecoder
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.encode import encode_logs, encode_spans
from infertrace.telemetry.validate import log_problem, span_problem
from infertrace.workload import Workload


@pytest.mark.parametrize(
    ("wire", "field", "value"),
    [
        ("trace_id", "trace_id", b"\x01" * 5),
        ("span_id", "span_id", bytes(8)),
        ("parent_span_id", "parent_span_id", b"\x02" * 3),
        ("kind", "kind", 7),
    ],
)
def test_span_reasons_match_validate(wire: str, field: str, value: Any) -> None:
    span = Workload(seed=31).spans(1)[0]
    request = encode_spans([span])
    setattr(request.resource_spans[0].scope_spans[0].spans[0], wire, value)
    decoded = TraceDecoder().decode(request.SerializeToString())
    assert decoded.rejected == 1
    expected = span_problem(dataclasses.replace(span, **{field: value}))
    assert expected is not None and decoded.reasons[0].endswith(": " + expected)


@pytest.mark.parametrize(
    ("field", "value"),
    [("severity_number", 30), ("trace_id", b"\x03" * 9), ("span_id", b"\x04" * 2)],
)
def test_log_reasons_match_validate(field: str, value: Any) -> None:
    record = Workload(seed=32).logs(1)[0]
    request = encode_logs([record])
    setattr(request.resource_logs[0].scope_logs[0].log_records[0], field, value)
    decoded = LogDecoder().decode(request.SerializeToString())
    assert decoded.rejected == 1
    expected = log_problem(dataclasses.replace(record, **{field: value}))
    assert expected is not None and decoded.reasons[0].endswith(": " + expected)


def test_whatever_the_decoders_accept_the_store_rules_accept() -> None:
    """So the store has nothing left to refuse: k bad records cost one write."""
    from infertrace.collector.otlp.decode_metrics import MetricDecoder
    from infertrace.telemetry.validate import check_batch, metric_problem
    from tests.collector.otlp.test_otlp_json import _rich_requests

    traces, logs, metrics = _rich_requests()
    spans = TraceDecoder().decode(traces.SerializeToString())
    records = LogDecoder().decode(logs.SerializeToString())
    points = MetricDecoder().decode(metrics.SerializeToString())
    assert spans.records and records.records and points.records
    assert not (spans.rejected or records.rejected or points.rejected)
    check_batch(spans.records, span_problem)
    check_batch(records.records, log_problem)
    check_batch(points.records, metric_problem)
