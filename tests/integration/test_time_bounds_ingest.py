"""Issue 9 regressions over OTLP: extreme record times against a real collector.

The probes that found them: metrics requests whose times were mutated to
2**63-1 (a 500 before, and the series broken afterwards), a two-series batch
whose failure shifted the other series' next time, and four requests of 500
spans spread from 1970 to 2262 (2,000 PostgreSQL partitions before).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from tests.collector.helpers import running

from infertrace.collector.otlp.encode import encode_metrics, encode_spans
from infertrace.config import Settings
from infertrace.model import MetricPoint, MetricType
from infertrace.telemetry.factory import time_bounds
from infertrace.telemetry.filters import MetricFilter, SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

PROTOBUF = {"Content-Type": "application/x-protobuf"}
SPREAD_FIRST, SPREAD_LAST = 0, 2**63 - 1


def gauge(name: str, t: int) -> MetricPoint:
    return MetricPoint(name=name, type=MetricType.GAUGE, service_name="svc",
                       time_unix_nano=t, value=1.0)  # fmt: skip


def post(url: str, path: str, body: bytes) -> httpx.Response:
    return httpx.post(url + path, content=body, headers=PROTOBUF, timeout=30)


def spread_requests(now: int) -> list[list[Any]]:
    """Four requests of 500 spans; start times spread evenly over 1970..2262, plus
    one in-window span per request (the last)."""
    spans = Workload(seed=9, start_ns=now).spans(2000)
    step = (SPREAD_LAST - SPREAD_FIRST) // 2000
    out = []
    for r in range(4):
        batch = []
        for i, s in enumerate(spans[r * 500 : (r + 1) * 500]):
            t = now - 1_000_000 if i == 499 else SPREAD_FIRST + (r * 500 + i) * step
            batch.append(dataclasses.replace(s, start_time_unix_nano=t))
        out.append(batch)
    return out


def bounded_store() -> MemoryStore:
    return MemoryStore(span_capacity=10_000, metric_capacity=1_000,
                       time_bounds=time_bounds(Settings()))  # fmt: skip


def test_spread_1970_to_2262_is_refused_record_by_record() -> None:
    store = bounded_store()
    now = time.time_ns()
    messages = []
    with running(store) as ep:
        for batch in spread_requests(now):
            r = post(ep.http_url, "/v1/traces", encode_spans(batch).SerializeToString())
            assert r.status_code == 200
            answer = ExportTraceServiceResponse.FromString(r.content)
            assert answer.partial_success.rejected_spans == 499
            messages.append(answer.partial_success.error_message)
    # The message quotes the first few reasons: 1970.. in the first, ..2262 in the last.
    assert "is more than 7d in the past (accepted from" in messages[0]
    assert "is more than 5m in the future (accepted until" in messages[-1]
    newest = store.list_spans(SpanFilter(limit=10))
    assert len(store.list_spans(SpanFilter(limit=10_000))) == 4
    assert all(abs(s.start_time_unix_nano - now) < 10**9 for s in newest)


def test_metric_time_at_int64_max_is_never_a_500() -> None:
    """With bounds off (the store API's default), the poison point is stored and the
    series and its neighbours stay exact; with the collector's bounds it is refused."""
    t = time.time_ns()
    for bounds_off in (True, False):
        store = MemoryStore(metric_capacity=1_000) if bounds_off else bounded_store()
        with running(store) as ep:
            requests = [
                [gauge("other", t), gauge("poison", t)],
                [gauge("other", t + 10_000), gauge("poison", 2**63 - 1)],
                [gauge("poison", t + 3_000_000_000)],
                [gauge("other", t + 20_000)],
            ]
            rejected = []
            for points in requests:
                r = post(ep.http_url, "/v1/metrics", encode_metrics(points).SerializeToString())
                assert r.status_code == 200, r.text
                answer = ExportMetricsServiceResponse.FromString(r.content)
                rejected.append(answer.partial_success.rejected_data_points)
        assert rejected == ([0, 0, 0, 0] if bounds_off else [0, 1, 0, 0])
        other = store.list_metric_points(MetricFilter(name="other", limit=10))
        assert sorted(p.time_unix_nano for p in other) == [t, t + 10_000, t + 20_000]
        poison = store.list_metric_points(MetricFilter(name="poison", limit=10))
        assert sorted(p.time_unix_nano for p in poison) == [t, t + 3_000_000_000]


@pytest.mark.parametrize(
    ("env", "past", "future"),
    [
        ({}, 7 * 86400.0, 300.0),
        ({"INFERTRACE_MAX_AGE": "6h"}, 7 * 3600.0, 300.0),
        ({"INFERTRACE_ACCEPT_PAST": "off", "INFERTRACE_ACCEPT_FUTURE": "1h"}, None, 3600.0),
        ({"INFERTRACE_ACCEPT_PAST": "30d", "INFERTRACE_ACCEPT_FUTURE": "off"}, 30 * 86400.0, None),
    ],
)
def test_settings_to_bounds(env: dict[str, str], past: float | None, future: float | None) -> None:
    bounds = time_bounds(Settings.from_env(env))
    assert (bounds.past_seconds, bounds.future_seconds) == (past, future)
