"""The one error mapping: a rule per error class, and every surface answering by it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import anyio
import grpc
import httpx
import pytest
from google.rpc import code_pb2, error_details_pb2, status_pb2

from infertrace.api import install_query_api
from infertrace.api.client import ApiError
from infertrace.api.export import ExportIncomplete
from infertrace.api.jaeger_params import ParamError
from infertrace.api.params import BadParameter
from infertrace.cli.demo import DemoError
from infertrace.cli.offline import OfflineError
from infertrace.collector.app import create_app
from infertrace.collector.body import BodyTooLarge, UnsupportedMediaType
from infertrace.collector.grpc_gate import CallRefused
from infertrace.collector.otlp.encode import encode_spans
from infertrace.config import ConfigError
from infertrace.errormap import MAPPED, RPC_CODES, Answer, RpcCode, answer_for
from infertrace.errors import (
    BodyError,
    CapacityExceeded,
    DuplicateRecord,
    InferTraceError,
    InvalidFilter,
    InvalidParameter,
    InvalidRecord,
    LogUnavailable,
    NotOwnerThread,
    RecordNotFound,
    ServiceNotFound,
    SnapshotInvalid,
    StoreClosed,
    StoreOverloaded,
    TraceNotFound,
    WriteRefused,
)
from infertrace.model import Span
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.memory.common import BadMap
from infertrace.telemetry.memory.spans import _Rejected
from infertrace.telemetry.postgres.cluster import ClusterError
from infertrace.telemetry.postgres.codec import EncodingProblem
from infertrace.telemetry.postgres.migrate import MigrationError
from infertrace.telemetry.postgres.queries import NoMatch
from infertrace.telemetry.postgres.writer import _Cancelled
from infertrace.workload import Workload
from tests.collector.helpers import running
from tests.test_errors import CLASSES

INTERNAL = (500, None, "INTERNAL")
"""No rule of its own: an internal error, logged, its text never shown."""
INVALID = (422, None, "INVALID_ARGUMENT")

CASES: dict[type[BaseException], tuple[Callable[[], BaseException], tuple[Any, ...]]] = {
    # error class: (an instance, (HTTP status, Retry-After header, gRPC code)); 500 is logged
    StoreOverloaded: (lambda: StoreOverloaded("queue full", 2.5), (503, "3", "UNAVAILABLE")),
    StoreClosed: (lambda: StoreClosed("store is closed"), (503, "1", "UNAVAILABLE")),
    LogUnavailable: (lambda: LogUnavailable("disk full"), (503, "5", "UNAVAILABLE")),
    InvalidFilter: (lambda: InvalidFilter("limit -1"), INVALID),
    InvalidParameter: (lambda: InvalidParameter("x", "bad"), INVALID),
    BadParameter: (lambda: BadParameter("x", "bad"), INVALID),
    ParamError: (lambda: ParamError("x", "bad"), INVALID),
    TraceNotFound: (lambda: TraceNotFound("ab" * 16), (404, None, "NOT_FOUND")),
    ServiceNotFound: (lambda: ServiceNotFound("svc:pod"), (404, None, "NOT_FOUND")),
    RecordNotFound: (lambda: RecordNotFound("commit", "ab12"), (404, None, "NOT_FOUND")),
    DuplicateRecord: (lambda: DuplicateRecord("email taken"), (409, None, "ALREADY_EXISTS")),
    CapacityExceeded: (lambda: CapacityExceeded("limit 10"), (507, None, "RESOURCE_EXHAUSTED")),
    SnapshotInvalid: (lambda: SnapshotInvalid("bad checksum"), INTERNAL),
    NotOwnerThread: (lambda: NotOwnerThread("thread 2"), INTERNAL),
    BodyError: (lambda: BodyError("not protobuf"), (400, None, "INVALID_ARGUMENT")),
    UnsupportedMediaType: (lambda: UnsupportedMediaType("xml"), (415, None, "INVALID_ARGUMENT")),
    BodyTooLarge: (lambda: BodyTooLarge("too big"), (413, None, "RESOURCE_EXHAUSTED")),
    WriteRefused: (lambda: WriteRefused("constraint"), INTERNAL),
    InvalidRecord: (lambda: InvalidRecord(7, "bad"), INTERNAL),  # the pipeline answers it
    InferTraceError: (lambda: InferTraceError("secret"), INTERNAL),
    ConfigError: (lambda: ConfigError("port"), INTERNAL),
    DemoError: (lambda: DemoError("no collector"), INTERNAL),
    OfflineError: (lambda: OfflineError("held by pid 7"), INTERNAL),
    CallRefused: (lambda: CallRefused(grpc.StatusCode.UNAVAILABLE, "busy", ""), INTERNAL),  # gate
    MigrationError: (lambda: MigrationError("layout"), INTERNAL),
    ClusterError: (lambda: ClusterError("no initdb"), INTERNAL),
    ApiError: (lambda: ApiError(503, "down"), INTERNAL),
    ExportIncomplete: (lambda: ExportIncomplete("ties"), INTERNAL),
    BadMap: (lambda: BadMap(), INTERNAL),
    _Rejected: (lambda: _Rejected(), INTERNAL),
    EncodingProblem: (lambda: EncodingProblem("NUL"), INTERNAL),
    NoMatch: (lambda: NoMatch(), INTERNAL),
    _Cancelled: (lambda: _Cancelled(), INTERNAL),
}  # fmt: skip


def test_the_table_covers_every_exception_class() -> None:
    assert set(CASES) == set(CLASSES)


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_answer(cls: type[BaseException]) -> None:
    make, (status, retry_after, code) = CASES[cls]
    logged = status == 500
    exc = make()
    assert type(exc) is cls
    answer = answer_for(exc)
    assert answer.status == status
    assert answer.headers.get("Retry-After") == retry_after
    assert answer.rpc_code.name == code
    assert answer.logged is logged
    assert isinstance(exc, MAPPED) is not logged
    if logged:
        assert "secret" not in answer.message and answer.otlp_message == answer.message
    else:
        assert answer.message == str(exc)


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (2.5, "3"), (60, "60")]
)
def test_retry_after_is_whole_seconds_at_least_one(seconds: float, header: str) -> None:
    assert answer_for(StoreOverloaded("full", seconds)).headers == {"Retry-After": header}


def test_otlp_message_names_the_failure() -> None:
    assert answer_for(StoreOverloaded("queue full")).otlp_message == "store overloaded: queue full"
    assert answer_for(StoreClosed("closed")).otlp_message == "store unavailable: closed"
    assert answer_for(BodyError("truncated")).otlp_message == "truncated"
    assert answer_for(StoreClosed()).message == "StoreClosed"


@pytest.mark.parametrize("code", list(RpcCode), ids=lambda c: c.name)
def test_rpc_codes_are_grpc_and_google_rpc_codes(code: RpcCode) -> None:
    assert grpc.StatusCode[code.name].value[0] == code
    assert code_pb2.Code.Value(code.name) == code


def test_every_mapped_status_has_a_grpc_code() -> None:
    statuses = {answer_for(make()).status for make, _ in CASES.values()}
    assert statuses <= set(RPC_CODES)


class FailingStore(MemoryStore):
    """Span reads and writes raise a fresh ``make()``."""

    def __init__(self, make: Callable[[], BaseException]) -> None:
        super().__init__()
        self.make = make

    def list_spans(self, flt: SpanFilter) -> list[Span]:
        raise self.make()

    def write_batch(self, spans: Sequence[Span]) -> None:
        raise self.make()


def _request(store: MemoryStore, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(store, install=install_query_api))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return anyio.run(go)


READ_ERRORS = [CASES[c][0] for c in (StoreOverloaded, StoreClosed, InvalidFilter)]
WRITE_ERRORS = [CASES[c][0] for c in (StoreOverloaded, StoreClosed, WriteRefused)]
SPANS = encode_spans(Workload().spans(3)).SerializeToString()


def _expected(make: Callable[[], BaseException]) -> Answer:
    return answer_for(make())


@pytest.mark.parametrize("make", READ_ERRORS, ids=lambda m: type(m()).__name__)
def test_rest_answers_by_the_mapping(make: Callable[[], BaseException]) -> None:
    answer = _expected(make)
    with FailingStore(make) as store:
        response = _request(store, "GET", "/api/spans")
    assert response.status_code == answer.status
    assert response.headers.get("retry-after") == answer.headers.get("Retry-After")
    assert response.json() == {"detail": answer.message}


@pytest.mark.parametrize("make", READ_ERRORS, ids=lambda m: type(m()).__name__)
def test_jaeger_answers_by_the_mapping_in_its_envelope(make: Callable[[], BaseException]) -> None:
    answer = _expected(make)
    status = 400 if answer.status == 422 else answer.status  # Jaeger's bad-request status
    with FailingStore(make) as store:
        response = _request(store, "GET", "/jaeger/api/traces", params={"service": "x"})
    assert response.status_code == status
    assert response.headers.get("retry-after") == answer.headers.get("Retry-After")
    assert response.json()["errors"] == [{"code": status, "msg": answer.message}]


def test_rest_bad_parameter_keeps_fastapis_shape() -> None:
    with MemoryStore() as store:
        response = _request(store, "GET", "/api/spans", params={"status": "maybe"})
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["query", "status"] and detail["type"] == "value_error"


@pytest.mark.parametrize("make", WRITE_ERRORS, ids=lambda m: type(m()).__name__)
def test_otlp_http_answers_by_the_mapping(make: Callable[[], BaseException]) -> None:
    answer = _expected(make)
    with FailingStore(make) as store:
        response = _request(
            store,
            "POST",
            "/v1/traces",
            content=SPANS,
            headers={"Content-Type": "application/x-protobuf"},
        )
    assert response.status_code == answer.status
    assert response.headers.get("retry-after") == answer.headers.get("Retry-After")
    status = status_pb2.Status.FromString(response.content)
    assert status.code == answer.rpc_code and status.message == answer.otlp_message
    assert len(status.details) == (answer.retry_after is not None)


@pytest.mark.parametrize("make", WRITE_ERRORS, ids=lambda m: type(m()).__name__)
def test_otlp_grpc_answers_by_the_mapping(make: Callable[[], BaseException]) -> None:
    answer = _expected(make)
    with (
        FailingStore(make) as store,
        running(store) as endpoints,
        grpc.insecure_channel(endpoints.grpc_target) as channel,
    ):
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as info:
            export(SPANS, timeout=10)
    error: Any = info.value
    assert error.code() == grpc.StatusCode[answer.rpc_code.name]
    assert error.details() == answer.otlp_message
    trailers = dict(error.trailing_metadata() or ())
    if answer.retry_after is None:
        assert "google.rpc.retryinfo-bin" not in trailers
    else:
        retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9 == answer.retry_after
