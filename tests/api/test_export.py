"""GET /api/export/spans against a real server fed over OTLP/HTTP.

Expected rows are computed here from the generated spans (not through the API's
serializer), then compared with what each format reads back as.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from infertrace.api import export as export_module
from infertrace.api.client import ApiClient, ApiError
from infertrace.collector.otlp.encode import encode_spans
from infertrace.model import Span, SpanKind, StatusCode
from infertrace.telemetry import semconv
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload
from tests.collector.helpers import SCOPE_KEYS, running

PB = {"Content-Type": "application/x-protobuf"}
MS = 1_000_000
START = 1_750_000_000_000_000_000
TRACES = 500

COLUMNS = [
    "trace_id", "span_id", "parent_span_id", "service_name", "operation_name", "kind",
    "start_time_unix_nano", "start_time", "end_time_unix_nano", "end_time",
    "duration_nanos", "duration_ms", "status_code", "status_message", "model_name",
    "model_version", "batch_size", "input_tokens", "output_tokens", "gpu_utilization",
    "time_to_first_token_nanos", "queue_time_nanos", "prefill_time_nanos",
    "decode_time_nanos", "e2e_time_nanos", "request_id", "finish_reason", "model_source",
    "trace_state", "flags", "attributes", "resource_attributes", "events", "links",
    "dropped_attributes_count", "dropped_events_count", "dropped_links_count",
]  # fmt: skip
INT_COLUMNS = {"start_time_unix_nano", "end_time_unix_nano", "duration_nanos", "batch_size",
               "input_tokens", "output_tokens", "time_to_first_token_nanos",
               "queue_time_nanos", "prefill_time_nanos", "decode_time_nanos",
               "e2e_time_nanos", "flags", "dropped_attributes_count", "dropped_events_count",
               "dropped_links_count"}  # fmt: skip
FLOAT_COLUMNS = {"duration_ms", "gpu_utilization"}
NULLABLE_TEXT = {"parent_span_id", "model_name", "model_version", "request_id", "finish_reason",
                 "model_source"}  # fmt: skip
JSON_COLUMNS = {"attributes", "resource_attributes", "events", "links"}


def feed(url: str, spans: list[Span], batch: int = 4000) -> None:
    for i in range(0, len(spans), batch):
        body = encode_spans(spans[i : i + batch]).SerializeToString()
        response = httpx.post(url + "/v1/traces", content=body, headers=PB, timeout=60)
        assert response.status_code == 200, response.text


@dataclass
class Fed:
    """A served store, its URL and the spans it was fed (as the tests compare them)."""

    url: str
    store: MemoryStore
    spans: list[Span]


@contextmanager
def served_fed(spans: list[Span], capacity: int) -> Iterator[Fed]:
    """A real server over a MemoryStore of ``capacity`` spans, fed ``spans`` over
    OTLP/HTTP; the store is closed on exit."""
    store = MemoryStore(span_capacity=capacity)
    with running(store) as endpoints:
        feed(endpoints.http_url, spans)
        yield Fed(endpoints.http_url, store, spans)
    store.close()


@pytest.fixture(scope="module")
def fed() -> Iterator[Fed]:
    spans = Workload(seed=7, start_ns=START, rate=50).spans(TRACES * 6)
    with served_fed(spans, 50_000) as served:
        yield dataclasses.replace(served, spans=[as_sent(s) for s in spans])


def as_sent(span: Span) -> Span:
    """``span`` as the collector received it: the OTLP encoder sends each inference
    column as an attribute (its first name), and attributes are kept as sent."""
    shown = MappingProxyType(dict(semconv.shown_attributes(span)))
    return dataclasses.replace(span, attributes=shown)


def iso(ns: int) -> str:
    seconds, nanos = divmod(ns, 10**9)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def expected_row(s: Span) -> dict[str, Any]:
    """What an export row holds for ``s``, built here from the record's fields."""
    return {
        "trace_id": s.trace_id.hex(),
        "span_id": s.span_id.hex(),
        "parent_span_id": s.parent_span_id.hex() if s.parent_span_id else None,
        "service_name": s.service_name,
        "operation_name": s.operation_name,
        "kind": {SpanKind.SERVER: "server", SpanKind.INTERNAL: "internal"}[s.kind],
        "start_time_unix_nano": s.start_time_unix_nano,
        "start_time": iso(s.start_time_unix_nano),
        "end_time_unix_nano": s.start_time_unix_nano + s.duration_nanos,
        "end_time": iso(s.start_time_unix_nano + s.duration_nanos),
        "duration_nanos": s.duration_nanos,
        "duration_ms": s.duration_nanos / 1e6,
        "status_code": {0: "unset", 1: "ok", 2: "error"}[int(s.status_code)],
        "status_message": s.status_message,
        "model_name": s.model_name,
        "model_version": s.model_version,
        "batch_size": s.batch_size,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "gpu_utilization": s.gpu_utilization,
        "time_to_first_token_nanos": s.time_to_first_token_nanos,
        "queue_time_nanos": s.queue_time_nanos,
        "prefill_time_nanos": s.prefill_time_nanos,
        "decode_time_nanos": s.decode_time_nanos,
        "e2e_time_nanos": s.e2e_time_nanos,
        "request_id": s.request_id,
        "finish_reason": s.finish_reason,
        "model_source": s.model_source,
        "trace_state": s.trace_state,
        "flags": s.flags,
        "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in s.attributes.items()},
        "resource_attributes": dict(s.resource_attributes),
        "events": [
            {
                "name": e.name,
                "time_unix_nano": e.time_unix_nano,
                "time": iso(e.time_unix_nano),
                "attributes": dict(e.attributes),
            }
            for e in s.events
        ],
        "links": [],
        "dropped_attributes_count": s.dropped_attributes_count,
        "dropped_events_count": s.dropped_events_count,
        "dropped_links_count": s.dropped_links_count,
    }


def strip_scope(row: dict[str, Any]) -> dict[str, Any]:
    """The row without the scope attributes the collector adds on ingest."""
    attrs = {k: v for k, v in row["attributes"].items() if k not in SCOPE_KEYS}
    return {**row, "attributes": attrs}


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def _typed_cell(name: str, text: str) -> Any:
    if name in JSON_COLUMNS:
        return json.loads(text)
    if text == "" and (name in NULLABLE_TEXT or name in INT_COLUMNS or name in FLOAT_COLUMNS):
        return None
    if name in INT_COLUMNS:
        return int(text)
    if name in FLOAT_COLUMNS:
        return float(text)
    return text


def read_csv(data: bytes) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    header = next(reader)
    assert header == COLUMNS
    return [{n: _typed_cell(n, v) for n, v in zip(header, row, strict=True)} for row in reader]


def read_parquet(data: bytes) -> list[dict[str, Any]]:
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.names == COLUMNS
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:
        for name in JSON_COLUMNS:
            row[name] = json.loads(row[name])
    return rows


READERS: dict[str, Callable[[bytes], list[dict[str, Any]]]] = {
    "jsonl": read_jsonl,
    "csv": read_csv,
    "parquet": read_parquet,
}
MEDIA = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


def export(url: str, fmt: str, **params: Any) -> httpx.Response:
    response = httpx.get(url + "/api/export/spans", params={"format": fmt, **params}, timeout=120)
    assert response.status_code == 200, response.text
    return response


def key(row: dict[str, Any]) -> tuple[str, str]:
    return row["trace_id"], row["span_id"]


def newest_first(rows: list[dict[str, Any]]) -> bool:
    starts = [r["start_time_unix_nano"] for r in rows]
    return starts == sorted(starts, reverse=True)


def _middle(fed: Fed) -> tuple[int, int]:
    starts = sorted(s.start_time_unix_nano for s in fed.spans)
    return starts[len(starts) // 4], starts[3 * len(starts) // 4]


FILTERS: list[tuple[str, Callable[[Fed], dict[str, Any]], Callable[[Fed, Span], bool]]] = [
    ("everything", lambda f: {}, lambda f, s: True),
    (
        "service-and-status",
        lambda f: {"service": "vllm-llama-8b", "status": "ok"},
        lambda f, s: s.service_name == "vllm-llama-8b" and s.status_code == StatusCode.OK,
    ),
    (
        "model-and-min-duration",
        lambda f: {"model": "Qwen/Qwen2.5-14B-Instruct", "min_duration": "800ms"},
        lambda f, s: s.model_name == "Qwen/Qwen2.5-14B-Instruct" and s.duration_nanos >= 800 * MS,
    ),
    (
        "operation-window",
        lambda f: {"operation": "decode", "since": _middle(f)[0], "until": _middle(f)[1]},
        lambda f, s: (
            s.operation_name == "decode" and _middle(f)[0] <= s.start_time_unix_nano < _middle(f)[1]
        ),
    ),
    (
        "attribute",
        lambda f: {"attr.gen_ai.system": "tgi", "attr.gen_ai.request.max_tokens": "512"},
        lambda f, s: (
            s.attributes.get("gen_ai.system") == "tgi"
            and s.attributes.get("gen_ai.request.max_tokens") == 512
        ),
    ),
    (
        "resource-attribute-and-max-duration",
        lambda f: {"attr.k8s.pod.name": "vllm-llama-70b-01", "max_duration": "5ms"},
        lambda f, s: (
            s.resource_attributes["k8s.pod.name"] == "vllm-llama-70b-01"
            and s.duration_nanos <= 5 * MS
        ),
    ),
]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize(("name", "params", "keep"), FILTERS, ids=[f[0] for f in FILTERS])
def test_each_format_round_trips_the_filtered_spans(
    fed: Fed,
    fmt: str,
    name: str,
    params: Callable[[Fed], dict[str, Any]],
    keep: Callable[[Fed, Span], bool],
) -> None:
    wanted = [expected_row(s) for s in fed.spans if keep(fed, s)]
    assert wanted, "the filter must select something"
    response = export(fed.url, fmt, **params(fed))
    rows = [strip_scope(r) for r in READERS[fmt](response.content)]
    assert newest_first(rows)
    assert len(rows) == len(wanted)
    assert {key(r): r for r in rows} == {key(r): r for r in wanted}


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_download_headers(fed: Fed, fmt: str) -> None:
    response = export(fed.url, fmt, limit=3)
    assert response.headers["content-type"] == MEDIA[fmt]
    assert response.headers["content-disposition"] == f'attachment; filename="spans.{fmt}"'
    assert response.headers["x-export-max-rows"] == "3"


def test_jsonl_is_the_default_format(fed: Fed) -> None:
    response = httpx.get(fed.url + "/api/export/spans", params={"limit": 4}, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert len(read_jsonl(response.content)) == 4


def test_parquet_columns_are_typed(fed: Fed) -> None:
    schema = pq.read_schema(io.BytesIO(export(fed.url, "parquet", limit=50).content))
    want = {
        "start_time_unix_nano": pa.int64(),
        "duration_nanos": pa.int64(),
        "input_tokens": pa.int64(),
        "batch_size": pa.int64(),
        "gpu_utilization": pa.float64(),
        "duration_ms": pa.float64(),
        "trace_id": pa.string(),
        "attributes": pa.string(),
    }
    for name, dtype in want.items():
        assert schema.field(name).type == dtype, name
    assert schema.field("input_tokens").nullable
    assert not schema.field("start_time_unix_nano").nullable


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_an_export_matching_nothing_is_a_valid_empty_file(fed: Fed, fmt: str) -> None:
    response = export(fed.url, fmt, service="no-such-service")
    assert READERS[fmt](response.content) == []


@pytest.mark.parametrize("limit", [1, 7, 2999])
def test_limit_is_the_most_rows_and_keeps_the_newest(fed: Fed, limit: int) -> None:
    rows = read_jsonl(export(fed.url, "jsonl", limit=limit).content)
    assert len(rows) == limit
    assert len({key(r) for r in rows}) == limit
    oldest = min(r["start_time_unix_nano"] for r in rows)
    newer = {
        (s.trace_id.hex(), s.span_id.hex()) for s in fed.spans if s.start_time_unix_nano > oldest
    }
    assert newer <= {key(r) for r in rows}


def test_default_and_maximum_row_limits(fed: Fed, monkeypatch: pytest.MonkeyPatch) -> None:
    assert export(fed.url, "jsonl", limit=1).headers["x-export-max-rows"] == "1"
    assert export(fed.url, "jsonl").headers["x-export-max-rows"] == "100000"
    assert export(fed.url, "jsonl", limit=5_000_000).headers["x-export-max-rows"] == "1000000"
    # The server runs in this process: lower the limits to see them bound the rows.
    monkeypatch.setattr(export_module, "DEFAULT_EXPORT_ROWS", 30)
    monkeypatch.setattr(export_module, "MAX_EXPORT_ROWS", 45)
    assert len(read_jsonl(export(fed.url, "jsonl").content)) == 30
    assert len(read_jsonl(export(fed.url, "jsonl", limit=1000).content)) == 45
    assert len(read_jsonl(export(fed.url, "jsonl", limit=20).content)) == 20


BAD = [
    ({"format": "xml"}, "format"),
    ({"format": "PARQUET"}, "format"),
    ({"status": "broken"}, "status"),
    ({"since": "yesterday"}, "since"),
    ({"since": "1h", "until": "2h"}, "until"),
    ({"min_duration": "fast"}, "min_duration"),
    ({"min_duration": "2s", "max_duration": "1s"}, "max_duration"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"attr.": "x"}, "attr."),
]


@pytest.mark.parametrize(("params", "where"), BAD, ids=[f"{p}" for p, _ in BAD])
def test_bad_parameters_are_422_before_streaming(
    fed: Fed, params: dict[str, str], where: str
) -> None:
    response = httpx.get(fed.url + "/api/export/spans", params=params, timeout=30)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert response.headers.get("content-disposition") is None
    assert [d["loc"][-1] for d in response.json()["detail"]] == [where]


def crowd(start: int, count: int, service: str, duration: Callable[[int], int]) -> list[Span]:
    """``count`` spans of one service all starting at ``start``."""
    return [
        Span(
            trace_id=(i // 50 + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            service_name=service,
            operation_name=f"op-{i % 7}",
            start_time_unix_nano=start,
            duration_nanos=duration(i),
        )
        for i in range(count)
    ]


def crowds(base: int, sizes: list[int], service: str, first_id: int) -> list[Span]:
    """Groups of spans sharing a start time, one group per size, 1 µs apart."""
    out: list[Span] = []
    for g, size in enumerate(sizes):
        for span in crowd(base + g * 1000, size, service, lambda i: 1000 + i % 97):
            out.append(
                Span(
                    trace_id=(first_id + len(out)).to_bytes(16, "big"),
                    span_id=span.span_id,
                    service_name=service,
                    operation_name=span.operation_name,
                    start_time_unix_nano=span.start_time_unix_nano,
                    duration_nanos=span.duration_nanos,
                )
            )
    return out


@pytest.fixture(scope="module")
def crowded() -> Iterator[tuple[str, list[Span]]]:
    """24,070 spans in few start times: pages end inside groups, one group > a page."""
    spans = crowds(START, [333] * 25, "crowd", 1)  # 8,325 spans, page ends mid-group
    spans += crowds(START + 10**9, [12_345], "crowd", 10**6)  # more than one page, one instant
    spans += crowds(START + 2 * 10**9, [1, 3399], "crowd", 10**7)
    assert len(spans) == 24_070
    store = MemoryStore(span_capacity=30_000)
    with running(store) as endpoints:
        feed(endpoints.http_url, spans)
        yield endpoints.http_url, spans
    store.close()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_paging_loses_and_repeats_nothing_when_start_times_are_shared(
    crowded: tuple[str, list[Span]], fmt: str
) -> None:
    url, spans = crowded
    rows = READERS[fmt](export(url, fmt, limit=100_000).content)
    assert len(rows) == len(spans)
    assert Counter(key(r) for r in rows) == Counter(
        (s.trace_id.hex(), s.span_id.hex()) for s in spans
    )
    assert newest_first(rows)


@pytest.mark.parametrize("limit", [10_000, 10_001, 15_000, 24_069])
def test_paging_stops_exactly_at_the_limit(crowded: tuple[str, list[Span]], limit: int) -> None:
    url, spans = crowded
    rows = read_jsonl(export(url, "jsonl", limit=limit).content)
    assert len(rows) == limit
    assert len({key(r) for r in rows}) == limit
    oldest = min(r["start_time_unix_nano"] for r in rows)
    newer = {(s.trace_id.hex(), s.span_id.hex()) for s in spans if s.start_time_unix_nano > oldest}
    assert newer <= {key(r) for r in rows}


def test_paging_with_a_filter_across_shared_start_times(crowded: tuple[str, list[Span]]) -> None:
    url, spans = crowded
    rows = read_jsonl(export(url, "jsonl", operation="op-3", min_duration="1020ns").content)
    wanted = {
        (s.trace_id.hex(), s.span_id.hex())
        for s in spans
        if s.operation_name == "op-3" and s.duration_nanos >= 1020
    }
    assert len(rows) == len(wanted)
    assert {key(r) for r in rows} == wanted


def dense(url: str, newer: int) -> list[Span]:
    """10,001 spans with one start and one duration, after ``newer`` newer ones."""
    same = crowd(START, 10_001, "dense", lambda i: 5000)
    later = [
        Span(
            trace_id=b"\xff" * 16,
            span_id=(10**6 + i).to_bytes(8, "big"),
            service_name="dense",
            operation_name="later",
            start_time_unix_nano=START + 1 + i,
            duration_nanos=1,
        )
        for i in range(newer)
    ]
    feed(url, same + later)
    return same + later


def test_more_than_a_page_of_identical_instants_is_refused_up_front() -> None:
    with running(MemoryStore(span_capacity=20_000)) as endpoints:
        dense(endpoints.http_url, newer=0)
        response = httpx.get(endpoints.http_url + "/api/export/spans", timeout=60)
    assert response.status_code == 422
    assert "10000 spans start at" in response.json()["detail"]


def test_more_than_a_page_of_identical_instants_breaks_the_stream(tmp_path: Path) -> None:
    with running(MemoryStore(span_capacity=20_000)) as endpoints:
        dense(endpoints.http_url, newer=100)
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(endpoints.http_url + "/api/export/spans", timeout=60)
        target = tmp_path / "spans.jsonl"
        with ApiClient(endpoints.http_url) as api, pytest.raises(ApiError) as err:
            api.export("jsonl", target)
    assert err.value.status is None
    assert "broke off" in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_client_export_writes_the_file(fed: Fed, tmp_path: Path) -> None:
    seen: list[int] = []
    target = tmp_path / "out.parquet"
    with ApiClient(fed.url) as api:
        result = api.export("parquet", target, seen.append, service="tgi-mistral-7b")
    rows = read_parquet(target.read_bytes())
    assert {key(r) for r in rows} == {
        (s.trace_id.hex(), s.span_id.hex()) for s in fed.spans if s.service_name == "tgi-mistral-7b"
    }
    assert result.bytes_written == target.stat().st_size == seen[-1]
    assert seen == sorted(seen)
    assert result.max_rows == 100_000
    assert list(tmp_path.iterdir()) == [target]


def test_client_export_error_leaves_no_file(fed: Fed, tmp_path: Path) -> None:
    with ApiClient(fed.url) as api, pytest.raises(ApiError) as err:
        api.export("csv", tmp_path / "x.csv", status="sideways")
    assert err.value.status == 422
    assert "status" in err.value.message and "sideways" in err.value.message
    assert list(tmp_path.iterdir()) == []
