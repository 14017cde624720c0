"""``google.rpc.Status`` error bodies, shared by both receivers.

OTLP says an error response carries a Status message, encoded like the
request (protobuf or JSON). Overload answers add a ``RetryInfo`` detail, the
machine-readable form of Retry-After that gRPC clients (the OTel SDKs among
them) honour.
"""

from __future__ import annotations

import math

from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2

from infertrace.collector.body import Format
from infertrace.collector.otlp import otlp_json
from infertrace.errormap import rpc_code


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    """A RetryInfo asking the client to wait ``seconds``."""
    whole = math.floor(seconds)
    return error_details_pb2.RetryInfo(
        retry_delay=Duration(seconds=whole, nanos=int((seconds - whole) * 1e9))
    )


def rpc_status(code: int, message: str, retry_after: float | None = None) -> status_pb2.Status:
    """A Status with ``code`` (a google.rpc.Code) and, when given, a RetryInfo detail."""
    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        status.details.add().Pack(retry_info(retry_after))
    return status


def error_body(
    http_status: int, message: str, fmt: Format, retry_after: float | None = None
) -> bytes:
    """The body of an OTLP/HTTP error response in the request's encoding."""
    status = rpc_status(rpc_code(http_status), message, retry_after)
    return otlp_json.dumps(status) if fmt is Format.JSON else status.SerializeToString()
