"""The collector: OTLP/HTTP and OTLP/gRPC receivers, decoding, and the write pipeline.

Public surface: build a store from settings (:func:`build_store`), build the
HTTP app (:func:`create_app`) or run everything (:class:`Collector`,
:func:`run`, :class:`BackgroundCollector`), decode OTLP requests into records
(the ``*Decoder`` classes) and encode records into OTLP requests (``encode_*``).
"""

from infertrace.collector.app import create_app
from infertrace.collector.backend import build_store
from infertrace.collector.decode_logs import LogDecoder
from infertrace.collector.decode_metrics import MetricDecoder
from infertrace.collector.decode_traces import TraceDecoder
from infertrace.collector.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.pipeline import Outcome, Pipeline, Signal
from infertrace.collector.server import BackgroundCollector, Collector, Endpoints, run

__all__ = [
    "BackgroundCollector",
    "Collector",
    "Endpoints",
    "LogDecoder",
    "MetricDecoder",
    "Outcome",
    "Pipeline",
    "Signal",
    "TraceDecoder",
    "build_store",
    "create_app",
    "encode_logs",
    "encode_metrics",
    "encode_spans",
    "run",
]
