"""OTLP/JSON decode: the one-pass JSON path against the old round trip, and protobuf.

Per signal, milliseconds to turn one 500-record request into records with the
pipeline's decoder, in process:

- ``json round trip``: the baseline, as the collector did it before issue 10
  item 4: ``json.loads``, ids rewritten hex -> base64, ``json_format.ParseDict``
  into the standard classes, serialised to bytes, parsed again with the lean
  classes and decoded.
- ``json``: :func:`infertrace.collector.otlp.otlp_json.parse` straight into the
  lean message, then decoded.
- ``protobuf``: the same request as protobuf bytes, decoded.

Run: ``python -m benchmarks.otlp_json [--quick]``; writes
``benchmarks/results/otlp_json.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from infertrace.collector.otlp import otlp_json
from infertrace.collector.otlp.decode_logs import LogDecoder
from infertrace.collector.otlp.decode_metrics import MetricDecoder
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.otlp.lean import LeanLogsRequest, LeanMetricsRequest, LeanTraceRequest
from infertrace.workload import Workload

RESULTS = Path(__file__).parent / "results" / "otlp_json.json"
BATCH = 500
_IDS = frozenset({"traceId", "spanId", "parentSpanId"})


def _round_trip(body: bytes, standard: Any) -> bytes:
    """The old path: parse into the standard classes, serialise for the decoder."""
    document = json.loads(body)
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _IDS and isinstance(value, str):
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    message = standard()
    json_format.ParseDict(document, message, ignore_unknown_fields=True)
    return bytes(message.SerializeToString())


def _best(fn: Callable[[], object], repeat: int, inner: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best * 1e3


def _measure(
    request: Any, standard: Any, lean: Any, decoder: Any, repeat: int, inner: int
) -> dict[str, float]:
    text, binary = otlp_json.dumps(request), request.SerializeToString()
    same = decoder.decode_message(otlp_json.parse(text, lean())).records
    assert same == decoder.decode(binary).records

    def round_trip() -> object:
        return decoder.decode(_round_trip(text, standard))

    def one_pass() -> object:
        return decoder.decode_message(otlp_json.parse(text, lean()))

    def protobuf() -> object:
        return decoder.decode(binary)

    return {
        "json_round_trip": _best(round_trip, repeat, inner),
        "json": _best(one_pass, repeat, inner),
        "protobuf": _best(protobuf, repeat, inner),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure every signal, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.otlp_json")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    args = parser.parse_args(argv)
    repeat, inner = (2, 2) if args.quick else (7, 10)
    w = Workload(seed=1)
    cases: list[tuple[str, Any, Any, Any, Any]] = [
        ("spans", encode_spans(w.spans(BATCH)), ExportTraceServiceRequest, LeanTraceRequest,
         TraceDecoder()),
        ("logs", encode_logs(w.logs(BATCH)), ExportLogsServiceRequest, LeanLogsRequest,
         LogDecoder()),
        ("metric_points", encode_metrics(w.metrics(BATCH)), ExportMetricsServiceRequest,
         LeanMetricsRequest, MetricDecoder()),
    ]  # fmt: skip
    results: dict[str, Any] = {"batch": BATCH, "unit": "ms per request", "signals": {}}
    for name, request, standard, lean, decoder in cases:
        results["signals"][name] = _measure(request, standard, lean, decoder, repeat, inner)
    _print(results)
    if not args.quick:
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


def _print(results: dict[str, Any]) -> None:
    print(f"OTLP/JSON decode, {results['batch']}-record requests, ms per request")
    print(f"{'signal':15} {'json round trip':>16} {'json':>8} {'protobuf':>9} {'speed-up':>9}")
    for name, r in results["signals"].items():
        speedup = r["json_round_trip"] / r["json"]
        print(
            f"{name:15} {r['json_round_trip']:16.2f} {r['json']:8.2f} {r['protobuf']:9.2f}"
            f" {speedup:8.1f}x"
        )


if __name__ == "__main__":
    main()
