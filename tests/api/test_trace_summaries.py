"""``/api/trace-summaries`` on a real server, against traces computed from the seeded spans."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infertrace.collector.server import Endpoints
from infertrace.model import Span
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.collector.helpers import running


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[Endpoints, list[Span]]]:
    store = MemoryStore()
    spans = Workload(seed=11, start_ns=time.time_ns() - 120 * 10**9, rate=2.0).spans(80)
    store.write_batch(spans)
    with running(store) as endpoints:
        yield endpoints, spans
    store.close()


def expected(spans: list[Span]) -> dict[str, dict[str, Any]]:
    """Each trace's row, computed here from the spans written."""
    by_trace: dict[bytes, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    out = {}
    for tid, group in by_trace.items():
        ids = {s.span_id for s in group}
        root = min(
            (s for s in group if s.parent_span_id not in ids),
            key=lambda s: s.start_time_unix_nano,
        )
        start = min(s.start_time_unix_nano for s in group)
        out[tid.hex()] = {
            "root_service_name": root.service_name,
            "root_operation_name": root.operation_name,
            "services": sorted({s.service_name for s in group}),
            "span_count": len(group),
            "error_count": len([s for s in group if s.is_error]),
            "start_time_unix_nano": start,
            "duration_nanos": max(s.end_time_unix_nano for s in group) - start,
        }
    return out


def get(endpoints: Endpoints, query: str) -> httpx.Response:
    return httpx.get(f"{endpoints.http_url}/api/trace-summaries?{query}")


def test_every_trace_summarised_newest_first(seeded: tuple[Endpoints, list[Span]]) -> None:
    endpoints, spans = seeded
    want = expected(spans)
    response = get(endpoints, "since=1h&limit=1000")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(want) == len(body["traces"])
    assert body["truncated"] is False
    starts = [r["start_time_unix_nano"] for r in body["traces"]]
    assert starts == sorted(starts, reverse=True)
    for row in body["traces"]:
        tid = row.pop("trace_id")
        row.pop("start_time")
        assert row == want[tid], tid


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_limit_counts_traces_and_keeps_the_newest(
    seeded: tuple[Endpoints, list[Span]], limit: int
) -> None:
    endpoints, spans = seeded
    want = expected(spans)
    body = get(endpoints, f"since=1h&limit={limit}").json()
    assert body["count"] == limit
    assert body["truncated"] is True
    newest_span_first = sorted(spans, key=lambda s: s.start_time_unix_nano, reverse=True)
    first_ids = list(dict.fromkeys(s.trace_id.hex() for s in newest_span_first))[:limit]
    assert {r["trace_id"] for r in body["traces"]} == set(first_ids)
    assert all(r["span_count"] == want[r["trace_id"]]["span_count"] for r in body["traces"])


def test_a_filter_keeps_traces_with_a_matching_span(seeded: tuple[Endpoints, list[Span]]) -> None:
    endpoints, spans = seeded
    service = sorted({s.service_name for s in spans})[-1]
    with_service = {s.trace_id.hex() for s in spans if s.service_name == service}
    body = get(endpoints, f"since=1h&limit=1000&service={service}").json()
    assert {r["trace_id"] for r in body["traces"]} == with_service
    assert all(service in r["services"] for r in body["traces"])


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("limit=1001", "limit"),
        ("limit=0", "limit"),
        ("since=yesterday", "since"),
        ("min_duration=2s&max_duration=1s", "max_duration"),
        ("status=broken", "status"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(
    seeded: tuple[Endpoints, list[Span]], query: str, name: str
) -> None:
    response = get(seeded[0], query)
    assert response.status_code == 422
    assert name in response.text
