"""The collector: OTLP/HTTP and OTLP/gRPC receivers in front of the write pipeline.

Public surface: build a store from settings (:func:`build_store`), build the
HTTP app (:func:`create_app`) or run everything (:class:`Collector`,
:func:`run`, :class:`BackgroundCollector`), and the pipeline the receivers
feed (:class:`Pipeline`). The OTLP codec (decoders and encoders) is the
:mod:`infertrace.collector.otlp` package.
"""

from infertrace.collector.app import create_app
from infertrace.collector.backend import build_store
from infertrace.collector.pipeline import Outcome, Pipeline, Signal
from infertrace.collector.server import BackgroundCollector, Collector, Endpoints, run

__all__ = [
    "BackgroundCollector",
    "Collector",
    "Endpoints",
    "Outcome",
    "Pipeline",
    "Signal",
    "build_store",
    "create_app",
    "run",
]
