"""Answers stay bounded and valid JSON whatever the stored data holds."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import pytest

from infertrace.api import search
from infertrace.api.responses import dumps
from infertrace.model import Span, SpanKind
from infertrace.telemetry.memory import MemoryStore
from tests.collector.helpers import running

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
BASE = 1_700_000_000_000_000_000


def _span(i: int, **fields: object) -> Span:
    values: dict[str, object] = {
        "trace_id": TRACE,
        "span_id": (i + 1).to_bytes(8, "big"),
        "service_name": "svc",
        "operation_name": f"op{i}",
        "start_time_unix_nano": BASE + i * 1_000,
        "duration_nanos": 500,
        "kind": SpanKind.INTERNAL,
    }
    values.update(fields)
    return Span(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    store = MemoryStore()
    spans = [_span(i) for i in range(12)]
    spans.append(
        _span(
            12,
            trace_id=bytes(range(16)),
            attributes={"nan": math.nan, "inf": math.inf, "fine": 1.5, "raw": b"\x00\xff"},
        )
    )
    store.write_batch(spans)
    with running(store) as endpoints:
        yield endpoints.http_url
    store.close()


@pytest.mark.parametrize("cap", [1, 5, 11, 12, 50])
def test_a_trace_answer_is_capped_at_its_earliest_spans(
    url: str, cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "MAX_TRACE_SPANS", cap)
    doc = httpx.get(f"{url}/api/traces/{TRACE.hex()}").json()
    assert doc["span_count"] == 12
    assert doc["truncated"] is (cap < 12)
    assert [s["operation_name"] for s in doc["spans"]] == [f"op{i}" for i in range(min(cap, 12))]


def test_non_finite_attribute_values_become_null_and_bytes_base64(url: str) -> None:
    response = httpx.get(f"{url}/api/traces/{bytes(range(16)).hex()}")
    assert response.status_code == 200
    attrs = json.loads(response.content)["spans"][0]["attributes"]
    assert attrs == {"nan": None, "inf": None, "fine": 1.5, "raw": "AP8="}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"a": math.nan}, {"a": None}),
        ([1.0, -math.inf, {"b": [math.inf]}], [1.0, None, {"b": [None]}]),
        ({"t": (1, 2)}, {"t": [1, 2]}),
        ({"s": "é\u2028"}, {"s": "é\u2028"}),
    ],
)
def test_dumps_always_writes_strict_json(content: object, expected: object) -> None:
    text = dumps(content)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard {c}")) == expected
