"""Shared pieces of the memory store's durability tests: an in-memory journal, records
with every column kind (and a write of them to their table), and every query a store
answers, in one comparable value."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from types import MappingProxyType
from typing import Any

from infertrace import MemoryStore
from infertrace.errors import TraceNotFound
from infertrace.model import (
    HistogramData,
    LogRecord,
    MetricPoint,
    MetricType,
    Span,
    SpanEvent,
    SpanKind,
    SpanLink,
    StatusCode,
    Temporality,
)
from infertrace.telemetry.analytics import GroupBy, SeriesMetric, SpanScope
from infertrace.telemetry.filters import LogFilter, MetricFilter, SpanFilter


class ListJournal:
    """A Journal keeping records in a list (LSN = position + 1). ``fail_append`` /
    ``fail_wait`` make it raise the OSError a full disk gives."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes]] = []
        self.fail_append = False
        self.fail_wait = False
        self._lock = threading.Lock()

    def append(self, table: str, payload: bytes | memoryview) -> int:
        if self.fail_append:
            raise OSError(28, "No space left on device", "/data/wal/seg-1")
        with self._lock:
            self.records.append((table, bytes(payload)))
            return len(self.records)

    def wait(self, lsn: int) -> None:
        if self.fail_wait:
            raise OSError(5, "Input/output error", "/data/wal/seg-1")
        assert 1 <= lsn <= len(self.records)

    def replay_into(self, store: MemoryStore, after: int = 0) -> None:
        for lsn, (table, payload) in enumerate(self.records, 1):
            if lsn > after:
                store.replay(table, lsn, payload)


MODELS = ("llama-3-8b", "mistral-7b", None)
SERVICES = ("vllm", "router", "tgi")
POINT_MODELS = ("llama-3-8b", "qwen-2-7b")
BIG = 2**63 - 1


def _attrs(r: random.Random, i: int) -> Any:
    kinds: list[Any] = [
        {},
        {"http.method": "POST", "retry": i % 3, "ok": i % 2 == 0},
        {"ratio": r.random(), "big": 2**60 + i, "huge": BIG, "neg": -(2**62)},
        {"tags": ("a", "b"), "raw": bytes([i % 256, 1]), "nums": (1, 2.5, True)},
        {"gen_ai.request.model": "llama-3-8b", "text": f"prompt {i % 7}", "empty": ""},
    ]
    m = kinds[i % len(kinds)]
    return MappingProxyType(m) if i % 2 else m


def rich_spans(seed: int, n: int, base_time: int = 1_700_000_000_000_000_000) -> list[Span]:
    """Spans using every column kind: ids, optional inference columns (None and set),
    attributes of every value type, events and links with attributes, trace state,
    flags, dropped counts, status messages."""
    r = random.Random(seed)
    out = []
    traces = [r.randbytes(16) for _ in range(max(1, n // 3))]
    for i in range(n):
        tid = traces[r.randrange(len(traces))]
        opt = i % 4 == 0
        out.append(
            Span(
                trace_id=tid,
                span_id=r.randbytes(8),
                service_name=SERVICES[i % 3],
                operation_name=f"op{i % 5}",
                start_time_unix_nano=base_time + r.randrange(10**12),
                duration_nanos=r.randrange(10**10),
                parent_span_id=b"" if i % 3 == 0 else r.randbytes(8),
                kind=SpanKind(i % 6),
                status_code=StatusCode(i % 3),
                status_message="boom" if i % 3 == 2 else "",
                model_name=MODELS[i % 3],
                model_version=None if opt else "v1",
                batch_size=None if opt else r.randrange(1, 64),
                input_tokens=None if opt else r.randrange(2**31),
                output_tokens=None if opt else r.randrange(4096),
                gpu_utilization=None if opt else r.random(),
                time_to_first_token_nanos=None if opt else r.randrange(2**40),
                queue_time_nanos=None if opt else 5,
                prefill_time_nanos=None if opt else BIG,
                decode_time_nanos=None if opt else 0,
                e2e_time_nanos=None if opt else 7,
                request_id=None if opt else f"req-{i}",
                finish_reason=None if opt else "stop",
                model_source=None if opt else "gen_ai.request.model",
                attributes=_attrs(r, i),
                resource_attributes=MappingProxyType(
                    {"service.name": SERVICES[i % 3], "pod": i % 2}
                ),
                events=(SpanEvent("first_token", base_time + i, _attrs(r, i + 1)),)
                if i % 5 == 0
                else (),
                links=(SpanLink(r.randbytes(16), r.randbytes(8), {"why": "retry"}, "k=v", 257),)
                if i % 7 == 0
                else (),
                trace_state="vendor=1" if i % 11 == 0 else "",
                flags=(i % 2) | (0x300 if i % 13 == 0 else 0),
                dropped_attributes_count=3 if i % 17 == 0 else 0,
                dropped_events_count=1 if i % 19 == 0 else 0,
                dropped_links_count=2 if i % 23 == 0 else 0,
            )
        )
    return out


def rich_logs(seed: int, n: int, base_time: int = 1_700_000_000_000_000_000) -> list[LogRecord]:
    """Logs with and without trace context, every severity, attributes of every type."""
    r = random.Random(seed)
    return [
        LogRecord(
            time_unix_nano=base_time + r.randrange(10**12),
            service_name=SERVICES[i % 3],
            body=f"line {i} {'error' if i % 4 == 0 else 'ok'}",
            observed_time_unix_nano=base_time + r.randrange(10**12),
            severity_number=(i % 24) + 1,
            severity_text=("INFO", "WARN", "ERROR")[i % 3],
            trace_id=b"" if i % 2 else r.randbytes(16),
            span_id=b"" if i % 2 else r.randbytes(8),
            attributes=_attrs(r, i),
            resource_attributes=MappingProxyType({"service.name": SERVICES[i % 3]}),
        )
        for i in range(n)
    ]


def _histogram(r: random.Random, kind: MetricType) -> HistogramData:
    if kind == MetricType.HISTOGRAM:
        counts = tuple(r.randrange(10) for _ in range(4))
        return HistogramData(sum(counts), r.random() * 10, 0.1, 9.5, (1.0, 2.0, 5.0), counts)
    if kind == MetricType.EXPONENTIAL_HISTOGRAM:
        return HistogramData(
            count=12, sum=3.5, scale=2, zero_count=1, positive_offset=-3,
            positive_bucket_counts=(1, 2, 3), negative_offset=1, negative_bucket_counts=(5,),
        )  # fmt: skip
    return HistogramData(count=4, sum=2.0, quantiles=((0.5, 0.4), (0.99, 1.9)))


def rich_points(seed: int, n: int, base_time: int = 1_700_000_000_000_000_000) -> list[MetricPoint]:
    """Points of every metric type: regular series (small deltas of deltas), irregular
    ones (escapes), exact big integers, histograms of all three kinds."""
    r = random.Random(seed)
    out = []
    kinds = list(MetricType)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        series = i % 6
        t = base_time + (i // 6) * 10**9 + (r.randrange(2**40) if series == 5 else 0)
        value: Any = None
        hist = None
        if kind in (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM, MetricType.SUMMARY):
            hist = _histogram(r, kind)
        else:
            value = (2**60 + i) if i % 4 == 0 else r.random() * 100
        out.append(
            MetricPoint(
                name=f"vllm:metric_{series}",
                type=kind,
                service_name=SERVICES[series % 3],
                time_unix_nano=t,
                value=value,
                unit="s",
                start_time_unix_nano=base_time,
                attributes=MappingProxyType(
                    {"model_name": POINT_MODELS[series % 2], "pod": series}
                ),
                resource_attributes=MappingProxyType({"service.name": SERVICES[series % 3]}),
                histogram=hist,
                is_monotonic=kind == MetricType.SUM,
                description="d",
                temporality=Temporality.CUMULATIVE
                if kind == MetricType.SUM
                else Temporality.UNSPECIFIED,
            )
        )
    return out


RICH_SIGNALS: list[tuple[str, Callable[[int, int], Sequence[Any]]]] = [
    ("spans", rich_spans),
    ("logs", rich_logs),
    ("metrics", rich_points),
]
"""Each table's name and its records maker ``(seed, n)``, for parametrized tests."""


def write(store: MemoryStore, table: str, records: Sequence[Any]) -> None:
    """Write ``records`` to the store's ``table`` ("spans", "logs" or "metrics")."""
    if table == "spans":
        store.write_batch(records)
    elif table == "logs":
        store.write_logs(records)
    else:
        store.write_metrics(records)


def answers(store: MemoryStore) -> dict[str, Any]:
    """Every query the store answers, over everything it holds: the oracle the
    durability tests compare a restored store with."""
    out: dict[str, Any] = {}
    big = 1_000_000
    spans = store.list_spans(SpanFilter(limit=big))
    out["spans"] = spans
    for svc in (*SERVICES, "nope"):
        out[f"spans svc={svc}"] = store.list_spans(SpanFilter(service_name=svc, limit=big))
        out[f"operations {svc}"] = store.operations(svc)
        out[f"logs svc={svc}"] = store.list_logs(LogFilter(service_name=svc, limit=big))
        out[f"points svc={svc}"] = store.list_metric_points(
            MetricFilter(service_name=svc, limit=big)
        )
    for model in MODELS[:2]:
        out[f"spans model={model}"] = store.list_spans(SpanFilter(model_name=model, limit=big))
    out["spans errors"] = store.list_spans(SpanFilter(status=StatusCode.ERROR, limit=big))
    out["spans slow"] = store.list_spans(SpanFilter(min_duration_ns=5 * 10**9, limit=big))
    out["spans attr"] = store.list_spans(SpanFilter(attributes={"retry": 1}, limit=big))
    out["spans top10"] = store.list_spans(SpanFilter(limit=10))
    traces = sorted({s.trace_id for s in spans})
    for t in traces[:40]:
        out[f"trace {t.hex()}"] = store.get_trace(t)
    try:
        store.get_trace(bytes(15) + b"\x09")
        out["missing trace"] = "found"
    except TraceNotFound:
        out["missing trace"] = "not found"
    out["services"] = store.services()
    out["models"] = store.models()
    out["logs"] = store.list_logs(LogFilter(limit=big))
    out["logs sev"] = store.list_logs(LogFilter(min_severity=17, limit=big))
    out["logs body"] = store.list_logs(LogFilter(body_contains="error", limit=big))
    with_tid = [x.trace_id for x in out["logs"] if x.trace_id]
    for t in with_tid[:10]:
        out[f"logs trace {t.hex()}"] = store.list_logs(LogFilter(trace_id=t, limit=big))
    out["points"] = store.list_metric_points(MetricFilter(limit=big))
    for kind in MetricType:
        out[f"points {kind}"] = store.list_metric_points(MetricFilter(type=kind, limit=big))
    qwen = MetricFilter(attributes={"model_name": "qwen-2-7b"}, limit=big)
    out["points attr"] = store.list_metric_points(qwen)
    out["metric names"] = store.metric_names()
    for g in GroupBy:
        for scope in SpanScope:
            out[f"analytics {g} {scope}"] = store.model_analytics(group_by=g, spans=scope)
    out["timeseries"] = store.timeseries(SeriesMetric.REQUESTS, 10**11)
    out["leaderboard"] = store.leaderboard(SeriesMetric.TOKENS_OUT)
    out["dependencies"] = store.dependencies(0, 2**62)
    st = store.stats()
    for name in ("spans", "logs", "metrics"):
        sig = getattr(st, name)
        out[f"stats {name}"] = (sig.capacity, sig.count, sig.evicted, sig.index_entries)
    out["distinct traces"] = st.spans.distinct_traces
    return out


def assert_same_answers(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], k
