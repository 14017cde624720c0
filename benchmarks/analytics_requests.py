"""Model analytics with the request rule: the memory store at 1,000,000 spans.

Analytics count requests (a span with a model whose parent is not a span of the
same service carrying the same model). Two shapes of the same one hour of
synthetic traffic (166,667 requests of 6 spans each, as in ``query_api``):

- *models on request spans*: only each request's root span carries the model, as
  inference servers emit it (the rule costs one comparison per candidate);
- *GenAI children*: the five children repeat the model, as OpenTelemetry GenAI
  instrumentations do (every child's parent is looked up).

Each is timed with ``spans=requests`` beside ``spans=all`` (every span with a
model) in the same run. ``--quick``: 100,000 spans, results not saved.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import time
from typing import Any

from benchmarks.report import report
from infertrace.telemetry.analytics import SpanScope
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

SECOND = 1_000_000_000


def _store(spans: int, genai: bool) -> tuple[MemoryStore, int]:
    """A store holding ``spans`` workload spans over the last hour; an hour ago."""
    store = MemoryStore(span_capacity=spans)
    now = time.time_ns()
    w = Workload(seed=11, start_ns=now - 56 * 60 * SECOND, rate=spans / 6 / (55 * 60))
    model: dict[bytes, str] = {}
    for batch in w.span_batches(spans, 512):
        if genai:  # a trace's root comes first: its children take its model
            model.update((s.trace_id, s.model_name) for s in batch if s.model_name)
            batch = [
                s if s.model_name else dataclasses.replace(s, model_name=model[s.trace_id])
                for s in batch
            ]
        store.write_batch(batch)
    return store, now - 3600 * SECOND


def _p50_ms(store: MemoryStore, since: int, scope: SpanScope, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        store.model_analytics(since=since, spans=scope)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 spans, results not saved")
    args = parser.parse_args(argv)
    spans = 100_000 if args.quick else args.spans
    rows: list[dict[str, Any]] = []
    for genai, shape in ((False, "models on request spans"), (True, "GenAI children")):
        store, since = _store(spans, genai)
        gc.collect()
        requests = sum(g.requests for g in store.model_analytics(since))
        model_spans = sum(g.requests for g in store.model_analytics(since, spans=SpanScope.ALL))
        rows.append(
            {
                "metric": f"model_analytics 1h p50, {shape} "
                f"({requests:,} requests of {model_spans:,} model spans)",
                "value": _p50_ms(store, since, SpanScope.REQUESTS, 20),
                "unit": "ms",
                "target": "<= 50" if not genai else "",
                "baseline": _p50_ms(store, since, SpanScope.ALL, 20),
            }
        )
        store.close()
        del store
        gc.collect()
    if args.quick:
        for r in rows:
            print(r)
    else:
        report("analytics_requests", f"Analytics with the request rule, {spans:,} spans", rows)
    return rows


if __name__ == "__main__":
    main()
