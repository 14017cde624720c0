"""The OTLP codec: OTLP requests (protobuf or OTLP/JSON) into records, and back.

Pure functions and caches over the OpenTelemetry protobuf messages, with no
network, pipeline or store in sight: the decoders validate a request and lift
the semantic conventions into records (``*Decoder``), the encoders turn records
into requests (``encode_*``), and :mod:`~infertrace.collector.otlp.otlp_json`
maps OTLP/JSON onto the protobuf messages. It imports only the model, the
errors and the telemetry layer's semantic conventions.
"""

from infertrace.collector.otlp.common import Decoded
from infertrace.collector.otlp.decode_logs import LogDecoder
from infertrace.collector.otlp.decode_metrics import MetricDecoder
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans

__all__ = [
    "Decoded",
    "LogDecoder",
    "MetricDecoder",
    "TraceDecoder",
    "encode_logs",
    "encode_metrics",
    "encode_spans",
]
