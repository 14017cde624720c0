"""MemoryStore at scale: write throughput, bytes per record, query latency.

Spans at 1,000,000 capacity (logs and metrics at their default capacities)
with the synthetic LLM-serving workload, beside the naive dict-of-lists store
of seed 001 in the same run. Throughput is timed with tracemalloc off; memory
is measured in a separate pass with tracemalloc on.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks.naive import NaiveStore
from benchmarks.report import report
from infertrace import LogFilter, MemoryStore, MetricFilter, SpanFilter
from infertrace.model import Span
from infertrace.workload import Workload

HOUR = 3600 * 10**9


def _batches(total: int, seed: int = 1) -> Iterator[list[Span]]:
    return Workload(seed).span_batches(total, 512)


def _traced_bytes(build: Callable[[], Any], fill: Callable[[Any], None]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        store = build()
        fill(store)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del store
    return used


def _latency_us(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1e6)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def spans(n: int) -> list[dict[str, Any]]:
    batches = list(_batches(n))
    rows: list[dict[str, Any]] = []
    store = MemoryStore(span_capacity=n)
    naive = NaiveStore(n)
    gc.collect()
    gc.disable()
    try:
        t = time.perf_counter()
        for b in batches:
            store.write_batch(b)
        mem_rate = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for b in batches:
            naive.write_batch(b)
        naive_rate = n / (time.perf_counter() - t)
    finally:
        gc.enable()
    rows.append({"metric": "spans write_batch(512)", "value": mem_rate, "unit": "spans/s",
                 "target": ">= 400,000", "baseline": naive_rate})  # fmt: skip
    rows += column_batches(batches)
    rng = random.Random(7)
    ids = [b[rng.randrange(len(b))].trace_id for b in rng.sample(batches, min(2000, len(batches)))]
    it = iter(ids * 3)
    p50, p99 = _latency_us(lambda: store.get_trace(next(it)), len(ids))  # noqa: F821
    it2 = iter(ids * 3)
    n50, _ = _latency_us(lambda: naive.get_trace(next(it2)), len(ids))  # noqa: F821
    rows.append(
        {"metric": "get_trace p50", "value": p50, "unit": "us", "target": "<= 20", "baseline": n50}
    )
    rows.append({"metric": "get_trace p99", "value": p99, "unit": "us"})
    last = max(s.start_time_unix_nano for s in batches[-1])
    flt = SpanFilter(
        service_name="vllm-llama-70b", model_name="meta-llama/Llama-3.1-70B-Instruct",
        since=last - HOUR, limit=100,
    )  # fmt: skip
    assert len(store.list_spans(flt)) == 100
    p50, p99 = _latency_us(lambda: store.list_spans(flt), 200)  # noqa: F821
    rows.append(
        {
            "metric": "list_spans svc+model+1h p50",
            "value": p50 / 1000,
            "unit": "ms",
            "target": "<= 5",
        }
    )
    rows.append({"metric": "list_spans svc+model+1h p99", "value": p99 / 1000, "unit": "ms"})
    p50, _ = _latency_us(lambda: store.model_analytics(since=last - HOUR), 20)  # noqa: F821
    rows.append(
        {"metric": "model_analytics 1h p50", "value": p50 / 1000, "unit": "ms", "target": "<= 50"}
    )
    del batches, store, naive
    gc.collect()

    def fill(s: Any) -> None:
        for b in _batches(n):
            s.write_batch(b)

    mem_bytes = _traced_bytes(lambda: MemoryStore(span_capacity=n), fill)
    naive_bytes = _traced_bytes(lambda: NaiveStore(n), fill)
    rows.append({"metric": "bytes per stored span", "value": mem_bytes / n, "unit": "B",
                 "target": "<= 250", "baseline": naive_bytes / n})  # fmt: skip
    return rows


def logs(n: int) -> list[dict[str, Any]]:
    w = Workload(3)
    records = w.logs(n)
    store = MemoryStore(log_capacity=n)
    t = time.perf_counter()
    for i in range(0, n, 512):
        store.write_logs(records[i : i + 512])
    rate = n / (time.perf_counter() - t)
    last = records[-1].time_unix_nano
    flt = LogFilter(service_name="vllm-llama-70b", min_severity=9, since=last - HOUR)
    p50, _ = _latency_us(lambda: store.list_logs(flt), 200)  # noqa: F821
    tid = records[n // 2].trace_id
    t50, _ = _latency_us(lambda: store.list_logs(LogFilter(trace_id=tid)), 500)  # noqa: F821
    b50, _ = _latency_us(
        lambda: store.list_logs(LogFilter(body_contains="CUDA", since=last - HOUR)),  # noqa: F821
        50,
    )
    del store

    def fill(s: Any) -> None:
        for i in range(0, n, 512):
            s.write_logs(records[i : i + 512])

    used = _traced_bytes(lambda: MemoryStore(log_capacity=n), fill)
    return [
        {"metric": "logs write(512)", "value": rate, "unit": "records/s"},
        {
            "metric": "list_logs svc+severity+1h p50",
            "value": p50 / 1000,
            "unit": "ms",
            "target": "<= 5",
        },
        {"metric": "list_logs by trace id p50", "value": t50, "unit": "us"},
        {
            "metric": "list_logs body_contains p50",
            "value": b50 / 1000,
            "unit": "ms",
            "target": "<= 5",
        },
        {"metric": "bytes per log record (+body)", "value": used / n, "unit": "B"},
    ]


def metrics(n: int) -> list[dict[str, Any]]:
    points = Workload(4).metrics(n)
    store = MemoryStore(metric_capacity=n)
    t = time.perf_counter()
    for i in range(0, n, 512):
        store.write_metrics(points[i : i + 512])
    rate = n / (time.perf_counter() - t)
    last = points[-1].time_unix_nano
    flt = MetricFilter(
        name="vllm:gpu_cache_usage_perc", service_name="vllm-llama-70b", since=last - HOUR
    )
    p50, _ = _latency_us(lambda: store.list_metric_points(flt), 100)  # noqa: F821
    del store

    def fill(s: Any) -> None:
        for i in range(0, n, 512):
            s.write_metrics(points[i : i + 512])

    used = _traced_bytes(lambda: MemoryStore(metric_capacity=n), fill)
    return [
        {"metric": "metrics write(512)", "value": rate, "unit": "points/s"},
        {
            "metric": "list_metric_points name+svc+1h p50",
            "value": p50 / 1000,
            "unit": "ms",
            "target": "<= 5",
        },
        {"metric": "bytes per point (1/3 histograms)", "value": used / n, "unit": "B"},
    ]


def column_batches(batches: list[list[Span]]) -> list[dict[str, Any]]:
    """The column-batch path: what the OTLP decoder hands the store, and the table append.

    The same spans, encoded as OTLP and decoded (untimed) into the decoder's
    SpanBatches; then timed: ``write_batch`` of those batches (validation,
    dictionary and attribute encoding, append, indexes), and the span table's
    ``append`` alone of batches prepared beforehand.
    """
    from infertrace.collector.otlp.decode_traces import TraceDecoder
    from infertrace.collector.otlp.encode import encode_spans

    decoder = TraceDecoder()
    decoded = [decoder.decode(encode_spans(b).SerializeToString()).records for b in batches]
    n = sum(map(len, decoded))
    gc.collect()
    gc.disable()
    try:
        store = MemoryStore(span_capacity=n)
        t = time.perf_counter()
        for d in decoded:
            store.write_batch(d)
        batch_rate = n / (time.perf_counter() - t)
        table = MemoryStore(span_capacity=n)._spans
        prepared = [table.prepare(d) for d in decoded]
        t = time.perf_counter()
        for p, d in zip(prepared, decoded, strict=True):
            table.append(p, d, 0)
        append_rate = n / (time.perf_counter() - t)
    finally:
        gc.enable()
    return [
        {"metric": "spans write_batch(decoder's SpanBatch)", "value": batch_rate,
         "unit": "spans/s"},
        {"metric": "span table append (prepared column batch)", "value": append_rate,
         "unit": "spans/s", "target": ">= 2,000,000"},
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.memory_store")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    n_spans, n_logs, n_points = (
        (100_000, 50_000, 100_000) if args.quick else (1_000_000, 50_000, 100_000)
    )
    rows = spans(n_spans) + logs(n_logs) + metrics(n_points)
    report(
        "memory_store",
        f"MemoryStore ({n_spans:,} spans, {n_logs:,} logs, {n_points:,} points)",
        rows,
    )


if __name__ == "__main__":
    main()
