"""How an error raised while serving a request is answered: one rule per error, stated once.

OTLP/HTTP, OTLP/gRPC, the REST API and the Jaeger API all ask :func:`answer_for`:

===============================  ======  ===============  ==================  ======
error                            HTTP    Retry-After      gRPC                logged
===============================  ======  ===============  ==================  ======
StoreOverloaded                  503     its retry_after  UNAVAILABLE
StoreClosed                      503     1 s              UNAVAILABLE
LogUnavailable                   503     5 s              UNAVAILABLE
InvalidParameter, InvalidFilter  422     no               INVALID_ARGUMENT
TraceNotFound, ServiceNotFound   404     no               NOT_FOUND
RecordNotFound                   404     no               NOT_FOUND
DuplicateRecord                  409     no               ALREADY_EXISTS
CapacityExceeded                 507     no               RESOURCE_EXHAUSTED
BodyError                        status  no               by HTTP status
WriteRefused, anything else      500     no               INTERNAL            yes
===============================  ======  ===============  ==================  ======

InvalidRecord has no rule: the pipeline answers it with ``partial_success``,
so one reaching a receiver means a store misreported its bad records, a bug (500).

The gRPC code follows from the HTTP status (:data:`RPC_CODES`, the OTLP
spec's correspondence), so the two cannot disagree. The surfaces differ only in
shape, each stated where it lives: REST keeps FastAPI's error body, Jaeger its
envelope (and 400 where REST says 422, as Jaeger does), the OTLP receivers a
``google.rpc.Status`` whose message is :attr:`Answer.otlp_message`.
Retry-After is whole seconds, at least 1 (:func:`retry_after_header`).

This module imports only :mod:`infertrace.errors`, so the collector and the api
both use it (the api never imports the collector) and it needs no grpc:
:class:`RpcCode` holds the ``google.rpc.Code`` numbers that ``grpc.StatusCode``
and ``google.rpc.Status`` share.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from infertrace.errors import (
    BodyError,
    CapacityExceeded,
    DuplicateRecord,
    InvalidFilter,
    InvalidParameter,
    LogUnavailable,
    RecordNotFound,
    ServiceNotFound,
    StoreClosed,
    StoreOverloaded,
    TraceNotFound,
)


class RpcCode(enum.IntEnum):
    """The ``google.rpc.Code`` values InferTrace answers with (``grpc.StatusCode[name]``)."""

    OK = 0
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    RESOURCE_EXHAUSTED = 8
    INTERNAL = 13
    UNAVAILABLE = 14


RPC_CODES: dict[int, RpcCode] = {
    400: RpcCode.INVALID_ARGUMENT,
    404: RpcCode.NOT_FOUND,
    409: RpcCode.ALREADY_EXISTS,
    413: RpcCode.RESOURCE_EXHAUSTED,
    415: RpcCode.INVALID_ARGUMENT,
    422: RpcCode.INVALID_ARGUMENT,
    500: RpcCode.INTERNAL,
    503: RpcCode.UNAVAILABLE,
    507: RpcCode.RESOURCE_EXHAUSTED,
}
"""The gRPC code of each HTTP status InferTrace answers; any other is UNKNOWN."""

STORE_CLOSED_RETRY_AFTER = 1.0
"""Seconds a client is asked to wait after StoreClosed (a restart is usually quick)."""

LOG_UNAVAILABLE_RETRY_AFTER = 5.0
"""Seconds a client is asked to wait after LogUnavailable (someone must free disk space)."""

INTERNAL_MESSAGE = "internal error while storing the request"
"""What a client is told of an unexpected error: never the error's own text."""


def rpc_code(http_status: int) -> RpcCode:
    """The gRPC code answering like ``http_status``."""
    return RPC_CODES.get(http_status, RpcCode.UNKNOWN)


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))


@dataclass(frozen=True, slots=True)
class Answer:
    """What to answer for an error: see the module docstring for each rule.

    ``message`` is the error's own text (the REST and Jaeger body), or
    :data:`INTERNAL_MESSAGE` for an unexpected error, which the caller must
    log (``logged``). ``summary`` names the kind of failure when the error's
    text alone would not ("store overloaded").
    """

    status: int
    retry_after: float | None
    message: str
    summary: str = ""
    logged: bool = False

    @property
    def rpc_code(self) -> RpcCode:
        """The gRPC counterpart of :attr:`status`."""
        return rpc_code(self.status)

    @property
    def headers(self) -> dict[str, str]:
        """``Retry-After`` when the client should retry later, else nothing."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": retry_after_header(self.retry_after)}

    @property
    def otlp_message(self) -> str:
        """The message of an OTLP error Status: the summary, then the error's text."""
        return f"{self.summary}: {self.message}" if self.summary else self.message


MAPPED: tuple[type[Exception], ...] = (
    StoreOverloaded,
    StoreClosed,
    LogUnavailable,
    InvalidParameter,
    InvalidFilter,
    TraceNotFound,
    ServiceNotFound,
    RecordNotFound,
    DuplicateRecord,
    CapacityExceeded,
    BodyError,
)
"""The errors with a rule of their own; anything else is an internal error (500)."""


def answer_for(exc: BaseException) -> Answer:
    """The answer to ``exc`` raised while serving a request. O(1)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, StoreOverloaded):
        return Answer(503, exc.retry_after, text, "store overloaded")
    if isinstance(exc, StoreClosed):
        return Answer(503, STORE_CLOSED_RETRY_AFTER, text, "store unavailable")
    if isinstance(exc, LogUnavailable):
        return Answer(503, LOG_UNAVAILABLE_RETRY_AFTER, text, "write-ahead log unavailable")
    if isinstance(exc, InvalidParameter | InvalidFilter):
        return Answer(422, None, text)
    if isinstance(exc, TraceNotFound | ServiceNotFound | RecordNotFound):
        return Answer(404, None, text)
    if isinstance(exc, DuplicateRecord):
        return Answer(409, None, text)
    if isinstance(exc, CapacityExceeded):
        return Answer(507, None, text)
    if isinstance(exc, BodyError):
        return Answer(exc.status, None, text)
    return Answer(500, None, INTERNAL_MESSAGE, logged=True)
