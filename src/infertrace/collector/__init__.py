"""The collector: OTLP/HTTP and OTLP/gRPC receivers in front of the write pipeline.

Public surface: build the HTTP app (:func:`create_app`) or run both receivers
(:class:`Collector`, :func:`run`, :class:`BackgroundCollector`), the pipeline
they feed (:class:`Pipeline`) with its :class:`ModelResolver`, and the
processors it calls with every stored batch (:class:`Processor`,
:class:`BaseProcessor`, the built-in :class:`SeenProcessor`). The OTLP codec
(decoders and encoders) is the :mod:`infertrace.collector.otlp` package.
"""

from infertrace.collector.app import create_app
from infertrace.collector.models import ModelResolver
from infertrace.collector.pipeline import Outcome, Pipeline, Signal
from infertrace.collector.processors import BaseProcessor, Processor
from infertrace.collector.seen import SeenInstance, SeenModel, SeenProcessor
from infertrace.collector.server import BackgroundCollector, Collector, Endpoints, run

__all__ = [
    "BackgroundCollector",
    "BaseProcessor",
    "Collector",
    "Endpoints",
    "ModelResolver",
    "Outcome",
    "Pipeline",
    "Processor",
    "SeenInstance",
    "SeenModel",
    "SeenProcessor",
    "Signal",
    "create_app",
    "run",
]
