"""Analytics from metrics: one hour of 200 series at 15 s resolution, memory store.

A vLLM fleet as an OpenTelemetry Collector scraping it sends it: 4 models x 5 pods,
each pod 10 series (the e2e latency, TTFT, TPOT and queue-time histograms with
vLLM's own bucket bounds; prompt-token, generation-token and finished-request
counters; running, waiting and KV-cache gauges), cumulative, one point per series
every 15 s for an hour: 48,000 points, 24,000 of them histograms with 20-22 buckets.

``metric_analytics`` over the hour, by model and by pod, is timed (p50 of 20 runs)
with the memory store's column reader; the baseline is the same analytics read
through the public ``list_metric_points`` (every store's path), in the same run. One
model's latency p95 per minute over the hour (``metric_timeseries``) is timed too. ``--quick``: 50
series, results not saved.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from types import MappingProxyType
from typing import Any

from benchmarks.report import report
from infertrace.model import HistogramData, MetricPoint, MetricType, Temporality
from infertrace.telemetry.analytics import GroupBy, SeriesMetric
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.metric_analytics import metric_analytics
from infertrace.telemetry.metric_read import SeriesReader, store_reader
from infertrace.telemetry.metric_timeseries import metric_timeseries

S = 1_000_000_000
LATENCY = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0,
           60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)  # fmt: skip
TTFT = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
        7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)  # fmt: skip
TPOT = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
        10.0, 20.0, 40.0, 80.0)  # fmt: skip
HISTOGRAMS = {
    "vllm:e2e_request_latency_seconds": LATENCY,
    "vllm:time_to_first_token_seconds": TTFT,
    "vllm:time_per_output_token_seconds": TPOT,
    "vllm:request_queue_time_seconds": LATENCY,
}
COUNTERS = (
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:request_success_total",
)
GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")
SERIES_PER_POD = len(HISTOGRAMS) + len(COUNTERS) + len(GAUGES)


def fleet_points(pods: int, start: int, scrapes: int, seed: int = 1) -> list[MetricPoint]:
    """``pods`` vLLM pods (4 models) scraped every 15 s from ``start``; oldest first."""
    rng = random.Random(seed)
    points: list[MetricPoint] = []
    state = []
    for p in range(pods):
        labels = MappingProxyType({"model_name": f"model-{p % 4}", "engine": "0"})
        res = MappingProxyType({"service.name": "vllm", "k8s.pod.name": f"vllm-{p}"})
        hists = {n: [0] * (len(b) + 1) for n, b in HISTOGRAMS.items()}
        state.append((labels, res, hists, [0.0] * len(COUNTERS)))
    for k in range(scrapes):
        t = start + 15 * S * k
        for labels, res, hists, counts in state:
            served = rng.randint(0, 20)
            for name, buckets in hists.items():
                for _ in range(served):
                    buckets[rng.randrange(len(buckets) - 1)] += 1
                points.append(
                    MetricPoint(
                        name,
                        MetricType.HISTOGRAM,
                        "vllm",
                        t,
                        unit="s",
                        start_time_unix_nano=start - 3600 * S,
                        attributes=labels,
                        resource_attributes=res,
                        histogram=HistogramData(
                            count=sum(buckets),
                            sum=served * 1.5,
                            bounds=HISTOGRAMS[name],
                            bucket_counts=tuple(buckets),
                        ),
                        temporality=Temporality.CUMULATIVE,
                    )
                )
            for i, name in enumerate(COUNTERS):
                counts[i] += served * (300 if i < 2 else 1)
                points.append(
                    MetricPoint(
                        name,
                        MetricType.SUM,
                        "vllm",
                        t,
                        counts[i],
                        start_time_unix_nano=start - 3600 * S,
                        attributes=labels
                        if i < 2
                        else MappingProxyType({**labels, "finished_reason": "stop"}),
                        resource_attributes=res,
                        is_monotonic=True,
                        temporality=Temporality.CUMULATIVE,
                    )
                )
            for name in GAUGES:
                points.append(
                    MetricPoint(
                        name,
                        MetricType.GAUGE,
                        "vllm",
                        t,
                        rng.random() * 8,
                        attributes=labels,
                        resource_attributes=res,
                    )
                )
    return points


def _p50_ms(store: MemoryStore, since: int, group_by: GroupBy, read: SeriesReader | None,
            repeat: int) -> float:  # fmt: skip
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        metric_analytics(store, since, group_by=group_by, read=read)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 series, results not saved")
    args = parser.parse_args(argv)
    pods = 5 if args.quick else 20
    now = time.time_ns() // S * S
    since = now - 3600 * S
    points = fleet_points(pods, since, 240)
    store = MemoryStore(metric_capacity=len(points))
    for i in range(0, len(points), 5_000):
        store.write_metrics(points[i : i + 5_000])
    gc.collect()
    series = pods * SERIES_PER_POD
    rows: list[dict[str, Any]] = []
    for group_by in (GroupBy.MODEL, GroupBy.POD):
        rows.append(
            {
                "metric": f"metric_analytics 1h p50 by {group_by.value}, {series} series x 240 "
                f"points ({len(points):,}), memory columns",
                "value": _p50_ms(store, since, group_by, None, 20),
                "unit": "ms",
                "target": "<= 50",
                "baseline": _p50_ms(store, since, group_by, store_reader(store), 3),
            }
        )
    times = []
    for _ in range(20):
        t = time.perf_counter()
        metric_timeseries(store, SeriesMetric.LATENCY_P95, 60 * S, since, model_name="model-0")
        times.append((time.perf_counter() - t) * 1000)
    rows.append(
        {
            "metric": "metric_timeseries 1h p50, one model's latency p95 per minute (60 buckets)",
            "value": statistics.median(times),
            "unit": "ms",
        }
    )
    store.close()
    if args.quick:
        for r in rows:
            print(r)
    else:
        report("metric_analytics", f"Analytics from metrics, {series} series, 1 hour", rows)
    return rows


if __name__ == "__main__":
    main()
