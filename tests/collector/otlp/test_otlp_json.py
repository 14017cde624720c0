from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from infertrace.collector.body import BodyError
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.otlp.lean import LeanLogsRequest, LeanMetricsRequest, LeanTraceRequest
from infertrace.collector.otlp.otlp_json import dumps, parse
from infertrace.telemetry.validate import id_problem
from infertrace.workload import Workload

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def doc(span: Mapping[str, object]) -> bytes:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode()


def parse_standard(body: bytes) -> ExportTraceServiceRequest:
    return parse(body, ExportTraceServiceRequest())


def test_spec_example_with_hex_ids_int64_strings_and_enum_ints() -> None:
    span = {
        "traceId": TRACE,
        "spanId": SPAN,
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "kind": 2,
        "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}}],
        "links": [{"traceId": TRACE, "spanId": "eee19b7ec3c1b172"}],
        "unknownField": {"ignored": True},
    }
    (got,) = parse_standard(doc(span)).resource_spans[0].scope_spans[0].spans
    assert got.trace_id.hex() == TRACE and got.span_id.hex() == SPAN
    assert got.parent_span_id.hex() == "eee19b7ec3c1b173"
    assert got.start_time_unix_nano == 1544712660000000000
    assert got.end_time_unix_nano == 1544712661000000000
    assert got.kind == 2 and got.links[0].span_id.hex() == "eee19b7ec3c1b172"


def test_snake_case_names_and_enum_names_are_accepted() -> None:
    span = {"trace_id": TRACE, "span_id": SPAN, "name": "x", "kind": "SPAN_KIND_CLIENT"}
    (got,) = parse_standard(doc(span)).resource_spans[0].scope_spans[0].spans
    assert got.trace_id.hex() == TRACE and got.kind == 3


def test_attribute_keys_named_like_id_fields_are_not_rewritten() -> None:
    attr = {"key": "traceId", "value": {"stringValue": "not-hex"}}
    span = {"traceId": TRACE, "spanId": SPAN, "name": "x", "attributes": [attr]}
    (got,) = parse_standard(doc(span)).resource_spans[0].scope_spans[0].spans
    assert got.attributes[0].value.string_value == "not-hex"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be an object, got list"),
        (doc({"name": 5}), "not an OTLP ExportTraceServiceRequest"),
        (b'{"resourceSpans": "nope"}', "not an OTLP ExportTraceServiceRequest"),
        (doc({"startTimeUnixNano": "soon"}), "not an OTLP"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_bad_json_says_what_was_wrong(body: bytes, message: str) -> None:
    with pytest.raises(BodyError, match=message):
        parse_standard(body)


@pytest.mark.parametrize("text", ["zz" * 16, "abc", "", "0" * 15, "é" * 16])
def test_an_id_that_is_not_hex_is_left_for_its_record_to_be_rejected(text: str) -> None:
    """Not a 400 for the whole body any more (issue 11): the decoder rejects the one span."""
    span = parse_standard(doc({"traceId": text})).resource_spans[0].scope_spans[0].spans[0]
    if text == "":
        assert span.trace_id == b""  # empty is hex: no id, which the decoder refuses
        return
    assert len(span.trace_id) not in (8, 16)
    assert id_problem(span.trace_id, 16, "trace_id") == f"trace_id {text!r} is not a hex id"


def test_empty_body_is_an_empty_request() -> None:
    assert parse_standard(b"  ") == ExportTraceServiceRequest()


def test_dumps_writes_hex_ids_and_parses_back() -> None:
    request = encode_spans(Workload(seed=1).spans(12))
    text = dumps(request)
    span = json.loads(text)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert len(span["traceId"]) == 32 and int(span["traceId"], 16) >= 0
    assert isinstance(span["startTimeUnixNano"], str) and isinstance(span["kind"], int)
    assert parse_standard(text) == request


def test_partial_success_response_json() -> None:
    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = 2
    response.partial_success.error_message = "why"
    assert json.loads(dumps(response)) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "why"}
    }


def _rich_requests() -> list[Message]:
    """One request per signal with every value shape: arrays, maps, bytes, all metric kinds."""
    workload = Workload(seed=21)
    traces = encode_spans(workload.spans(40))
    span = traces.resource_spans[0].scope_spans[0].spans[0]
    link = span.links.add(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)))
    link.attributes.add(key="l", value=AnyValue(int_value=-7))
    value = span.attributes.add(key="rich").value
    value.array_value.values.add(string_value="a")
    value.array_value.values.add(double_value=float("nan"))
    value.array_value.values.add(bytes_value=b"\x00\xff")
    value.array_value.values.add().kvlist_value.values.add(key="k", value=AnyValue(bool_value=True))
    span.attributes.add(key="inf", value=AnyValue(double_value=float("-inf")))
    span.status.code = 2
    span.status.message = "boom"
    logs = encode_logs(workload.logs(30))
    logs.resource_logs[0].scope_logs[0].log_records[0].body.kvlist_value.values.add(
        key="nested", value=AnyValue(int_value=2**62)
    )
    metrics = encode_metrics(workload.metrics(30))
    scope = metrics.resource_metrics[0].scope_metrics[0]
    exp = scope.metrics.add(name="exp").exponential_histogram.data_points.add(
        count=5, sum=2.5, scale=3, zero_count=1, time_unix_nano=10
    )
    exp.positive.offset = -2
    exp.positive.bucket_counts.extend([1, 2, 1])
    summary = scope.metrics.add(name="summary").summary.data_points.add(count=2, sum=4.0)
    summary.quantile_values.add(quantile=0.5, value=1.5)
    return [traces, logs, metrics]


@pytest.mark.parametrize("request_index", [0, 1, 2])
def test_json_fills_the_lean_message_protobuf_would_parse(request_index: int) -> None:
    request = _rich_requests()[request_index]
    lean = (LeanTraceRequest, LeanLogsRequest, LeanMetricsRequest)[request_index]
    from_json = parse(dumps(request), lean())
    assert from_json == lean.FromString(request.SerializeToString())
    assert parse(dumps(request), type(request)()) == request


@pytest.mark.parametrize(
    "span",
    [
        {"name": 5},
        {"startTimeUnixNano": "1.5"},
        {"startTimeUnixNano": "1 2"},
        {"startTimeUnixNano": 1.5},
        {"startTimeUnixNano": -1},
        {"startTimeUnixNano": str(2**64)},
        {"events": {"name": "x"}},
        {"attributes": [{"key": "k", "value": {"doubleValue": "nan"}}]},
        {"attributes": [{"key": "k", "value": {"intValue": True}}]},
        {"attributes": [{"key": "k", "value": {"boolValue": "true"}}]},
        {"attributes": [{"key": 1, "value": {"stringValue": "v"}}]},
        {"attributes": [{"key": "k", "value": {"stringValue": "\ud800"}}]},
        {"attributes": {"key": "k"}},
        {"droppedAttributesCount": 2**32},
    ],
)
def test_lean_parse_refuses_what_json_format_refuses(span: dict[str, object]) -> None:
    body = doc(span)
    with pytest.raises(json_format.ParseError):
        json_format.Parse(body, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    with pytest.raises(BodyError, match="not an OTLP ExportTraceServiceRequest"):
        parse(body, LeanTraceRequest())


@pytest.mark.parametrize("span", [{"events": ["x"]}, {"status": "ok"}])
def test_a_string_where_an_object_belongs_is_refused(span: dict[str, object]) -> None:
    # json_format iterates the string's characters as unknown keys and accepts
    # an empty message; a body like that is garbage, answered with 400.
    with pytest.raises(BodyError, match="expected an object, got str"):
        parse(doc(span), LeanTraceRequest())


@pytest.mark.parametrize(
    "span",
    [
        {"kind": True},
        {"startTimeUnixNano": 5.0, "kind": "SPAN_KIND_NOT_A_KIND", "name": None},
        {"attributes": [{"key": "k", "value": {"doubleValue": "Infinity"}}], "flags": 1},
        {"attributes": [{"key": "k", "value": {"doubleValue": "1.5"}}]},
        {"attributes": [{"key": "k", "value": {"bytesValue": "AP8"}}]},
        {"attributes": [{"key": "k", "value": {"intValue": "-3"}}], "events": []},
    ],
)
def test_lean_parse_accepts_what_json_format_accepts(span: dict[str, object]) -> None:
    body = doc(span)
    standard = json_format.Parse(body, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    assert parse(body, ExportTraceServiceRequest()) == standard
    assert parse(body, LeanTraceRequest()) == LeanTraceRequest.FromString(
        standard.SerializeToString()
    )


def test_threads_parsing_at_once_all_get_whole_messages() -> None:
    import threading

    from infertrace.collector.otlp import otlp_json

    otlp_json._PLANS.clear()  # every thread races to build the plans
    request = _rich_requests()[0]
    text, expected = dumps(request), LeanTraceRequest.FromString(request.SerializeToString())
    results: list[bool] = []
    start = threading.Barrier(4)

    def work() -> None:
        start.wait()
        results.append(all(parse(text, LeanTraceRequest()) == expected for _ in range(5)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 4
