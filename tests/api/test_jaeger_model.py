"""Spans in Jaeger's UI JSON model, and the tags a Jaeger search sees.

Expected values are written out here from Jaeger's documented model
(``model/json/model.go``, ``model/converter/json/from_domain.go``) and the
OpenTelemetry Jaeger translator, not computed by the module under test.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import Any

import pytest

from infertrace.api.jaeger_model import (
    MAX_QUERIES,
    TagQuery,
    key_value,
    process_tags,
    span_json,
    span_tags,
    store_filters,
    tag_values,
    trace_json,
    typed_values,
)
from infertrace.model import AttributeValue, Span, SpanEvent, SpanKind, SpanLink, StatusCode
from infertrace.telemetry.filters import SpanFilter
from infertrace.telemetry.memory import MemoryStore
from infertrace.workload import Workload

SPAN_KEYS = {
    "traceID",
    "spanID",
    "flags",
    "operationName",
    "references",
    "startTime",
    "duration",
    "tags",
    "logs",
    "processID",
    "warnings",
}
TRACE_KEYS = {"traceID", "spans", "processes", "warnings"}
TID = bytes.fromhex("0123456789abcdef0123456789abcdef")
T0 = 1_700_000_000_123_456_789


def make_span(**fields: Any) -> Span:
    base: dict[str, Any] = {
        "trace_id": TID,
        "span_id": bytes.fromhex("1111111111111111"),
        "service_name": "svc",
        "operation_name": "op",
        "start_time_unix_nano": T0,
        "duration_nanos": 1_999,
    }
    base.update(fields)
    return Span(**base)


def tag_map(tags: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    out = {t["key"]: (t["type"], t["value"]) for t in tags}
    assert len(out) == len(tags), f"duplicate tag keys in {tags}"
    return out


@pytest.mark.parametrize(
    ("value", "jtype", "jvalue"),
    [
        (True, "bool", True),
        (False, "bool", False),
        (0, "int64", 0),
        (-42, "int64", -42),
        (2**53 - 1, "int64", 2**53 - 1),
        (2**53, "int64", "9007199254740992"),
        (-(2**53), "int64", "-9007199254740992"),
        (0.5, "float64", 0.5),
        (-1e300, "float64", -1e300),
        (math.nan, "float64", "NaN"),
        (math.inf, "float64", "+Inf"),
        (-math.inf, "float64", "-Inf"),
        ("", "string", ""),
        ("héllo", "string", "héllo"),
        (b"\x00\x01\xff", "binary", "AAH/"),
        (("a", 1, True, 2.5), "string", '["a",1,true,2.5]'),
        ((b"\x01", math.nan), "string", '["AQ==","NaN"]'),
        ((), "string", "[]"),
    ],
)
def test_key_value_types(value: AttributeValue, jtype: str, jvalue: Any) -> None:
    kv = key_value("k", value)
    assert kv == {"key": "k", "type": jtype, "value": jvalue}
    assert type(kv["value"]) is type(jvalue)


def test_span_json_has_exactly_jaegers_keys_and_types() -> None:
    parent = bytes.fromhex("2222222222222222")
    other_trace = bytes.fromhex("fedcba9876543210fedcba9876543210")
    span = make_span(
        parent_span_id=parent,
        kind=SpanKind.CLIENT,
        attributes={"http.status_code": 500, "retry": True, "ratio": 0.25, "path": "/x"},
        events=(
            SpanEvent("first_token", T0 + 5_432_100, {"tokens": 3}),
            SpanEvent("done", T0 + 999),
        ),
        links=(SpanLink(other_trace, bytes.fromhex("3333333333333333"), {"why": "batch"}),),
    )
    out = span_json(span, "p7")
    assert set(out) == SPAN_KEYS
    assert out["traceID"] == "0123456789abcdef0123456789abcdef"
    assert out["spanID"] == "1111111111111111"
    assert out["flags"] == 1
    assert out["operationName"] == "op"
    assert out["startTime"] == 1_700_000_000_123_456 and isinstance(out["startTime"], int)
    assert out["duration"] == 1 and isinstance(out["duration"], int)
    assert out["processID"] == "p7"
    assert out["warnings"] is None
    assert out["references"] == [
        {"refType": "CHILD_OF", "traceID": out["traceID"], "spanID": "2222222222222222"},
        {
            "refType": "FOLLOWS_FROM",
            "traceID": "fedcba9876543210fedcba9876543210",
            "spanID": "3333333333333333",
        },
    ]
    assert tag_map(out["tags"]) == {
        "http.status_code": ("int64", 500),
        "retry": ("bool", True),
        "ratio": ("float64", 0.25),
        "path": ("string", "/x"),
        "span.kind": ("string", "client"),
    }
    assert out["logs"] == [
        {
            "timestamp": 1_700_000_000_128_888,
            "fields": [
                {"key": "event", "type": "string", "value": "first_token"},
                {"key": "tokens", "type": "int64", "value": 3},
            ],
        },
        {
            "timestamp": 1_700_000_000_123_457,
            "fields": [{"key": "event", "type": "string", "value": "done"}],
        },
    ]


def test_root_span_has_no_references_logs_or_tags() -> None:
    out = span_json(make_span(), "p1")
    assert out["references"] == [] and out["logs"] == [] and out["tags"] == []


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (SpanKind.UNSPECIFIED, None),
        (SpanKind.INTERNAL, "internal"),
        (SpanKind.SERVER, "server"),
        (SpanKind.CLIENT, "client"),
        (SpanKind.PRODUCER, "producer"),
        (SpanKind.CONSUMER, "consumer"),
    ],
)
def test_span_kind_tag(kind: SpanKind, name: str | None) -> None:
    tags = tag_map(span_tags(make_span(kind=kind)))
    assert tags.get("span.kind") == (None if name is None else ("string", name))


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (StatusCode.UNSET, "", {}),
        (StatusCode.OK, "", {"otel.status_code": ("string", "OK")}),
        (
            StatusCode.ERROR,
            "",
            {"otel.status_code": ("string", "ERROR"), "error": ("bool", True)},
        ),
        (
            StatusCode.ERROR,
            "CUDA out of memory",
            {
                "otel.status_code": ("string", "ERROR"),
                "otel.status_description": ("string", "CUDA out of memory"),
                "error": ("bool", True),
            },
        ),
    ],
)
def test_status_tags(status: StatusCode, message: str, expected: dict[str, Any]) -> None:
    tags = tag_map(span_tags(make_span(status_code=status, status_message=message)))
    assert tags == expected


def test_kind_and_status_tags_win_over_attributes_of_the_same_name() -> None:
    attrs = {"error": "no", "span.kind": "weird", "otel.status_code": "x", "keep": 1}
    err = make_span(status_code=StatusCode.ERROR, kind=SpanKind.SERVER, attributes=attrs)
    assert tag_map(span_tags(err)) == {
        "error": ("bool", True),
        "span.kind": ("string", "server"),
        "otel.status_code": ("string", "ERROR"),
        "keep": ("int64", 1),
    }
    # Without a status or kind, the attributes are the tags.
    plain = tag_map(span_tags(make_span(attributes=attrs)))
    assert plain["error"] == ("string", "no") and plain["span.kind"] == ("string", "weird")


def test_lifted_columns_come_back_as_the_names_the_collector_lifts_first() -> None:
    span = make_span(
        model_name="meta-llama/Llama-3.1-8B-Instruct",
        model_version="2024-07",
        batch_size=8,
        input_tokens=120,
        output_tokens=0,
        gpu_utilization=0.75,
        time_to_first_token_nanos=250_000_000,
    )
    assert tag_map(span_tags(span)) == {
        "gen_ai.response.model": ("string", "meta-llama/Llama-3.1-8B-Instruct"),
        "model_version": ("string", "2024-07"),
        "batch_size": ("int64", 8),
        "gen_ai.usage.input_tokens": ("int64", 120),
        "gen_ai.usage.output_tokens": ("int64", 0),
        "gpu_utilization": ("float64", 0.75),
        "gen_ai.latency.time_to_first_token": ("float64", 0.25),
    }


def test_process_tags_leave_out_service_name() -> None:
    tags = process_tags({"service.name": "svc", "host.name": "h1", "cores": 8})
    assert tags == [
        {"key": "host.name", "type": "string", "value": "h1"},
        {"key": "cores", "type": "int64", "value": 8},
    ]


def test_trace_processes_one_per_service_and_resource() -> None:
    res_a = MappingProxyType({"service.name": "a", "host.name": "h1"})
    res_a_copy = {"host.name": "h1", "service.name": "a"}  # equal, another object
    res_a_h2 = {"service.name": "a", "host.name": "h2"}
    res_one = {"flag": 1}
    res_true = {"flag": True}  # True == 1 in Python, but a different tag
    spans = [
        make_span(span_id=bytes([i + 1]) * 8, service_name=svc, resource_attributes=res)
        for i, (svc, res) in enumerate(
            [
                ("a", res_a),
                ("a", res_a_copy),
                ("a", res_a_h2),
                ("b", res_a),
                ("a", res_a),
                ("c", res_one),
                ("c", res_true),
            ]
        )
    ]
    out = trace_json(spans)
    assert set(out) == TRACE_KEYS
    assert out["traceID"] == TID.hex()
    assert out["warnings"] is None
    assert [s["processID"] for s in out["spans"]] == ["p1", "p1", "p2", "p3", "p1", "p4", "p5"]
    procs = out["processes"]
    assert procs == {
        "p1": {"serviceName": "a", "tags": [{"key": "host.name", "type": "string", "value": "h1"}]},
        "p2": {"serviceName": "a", "tags": [{"key": "host.name", "type": "string", "value": "h2"}]},
        "p3": {"serviceName": "b", "tags": [{"key": "host.name", "type": "string", "value": "h1"}]},
        "p4": {"serviceName": "c", "tags": [{"key": "flag", "type": "int64", "value": 1}]},
        "p5": {"serviceName": "c", "tags": [{"key": "flag", "type": "bool", "value": True}]},
    }
    for jspan, span in zip(out["spans"], spans, strict=True):
        assert procs[jspan["processID"]]["serviceName"] == span.service_name


@pytest.mark.parametrize(("count", "cap", "kept"), [(5, 3, 3), (3, 3, 3), (1, 10, 1)])
def test_trace_truncation_warns(count: int, cap: int, kept: int) -> None:
    spans = [make_span(span_id=bytes([i + 1]) * 8) for i in range(count)]
    out = trace_json(spans, max_spans=cap)
    assert [s["spanID"] for s in out["spans"]] == [bytes([i + 1]).hex() * 8 for i in range(kept)]
    if count > cap:
        assert out["warnings"] == [f"trace truncated: showing the first {cap} of {count} spans"]
    else:
        assert out["warnings"] is None


def test_tag_values_agree_with_the_tags_shown() -> None:
    """Every tag a span shows is a value a search on its key sees (workload spans)."""
    spans = Workload(seed=3).spans(120)
    spans.append(make_span(attributes={"b": b"\x01"}, status_code=StatusCode.OK))
    for span in spans:
        for tag in span_tags(span):
            shown = [key_value(tag["key"], v) for v in tag_values(span, tag["key"])]
            assert tag in shown, (span, tag)


ERR_SPAN = make_span(
    kind=SpanKind.SERVER,
    status_code=StatusCode.ERROR,
    status_message="boom",
    model_name="m/big",
    batch_size=8,
    gpu_utilization=0.5,
    time_to_first_token_nanos=250_000_000,
    attributes={
        "http.status_code": 500,
        "code_text": "500",
        "ratio": 0.5,
        "cached": True,
        "cached_text": "true",
        "one": 1,
        "reasons": ("stop",),
        "gen_ai.request.model": "m/small",  # a losing candidate kept by the collector
    },
    resource_attributes={"service.name": "svc", "k8s.pod.name": "pod-1", "ratio": 9.0},
)
OK_SPAN = make_span(
    kind=SpanKind.UNSPECIFIED,
    status_code=StatusCode.UNSET,
    attributes={"error": "false", "span.kind": "custom"},
)


@pytest.mark.parametrize(
    ("span", "tags", "expected"),
    [
        (ERR_SPAN, {"http.status_code": "500"}, True),
        (ERR_SPAN, {"http.status_code": "500.0"}, True),
        (ERR_SPAN, {"http.status_code": "501"}, False),
        (ERR_SPAN, {"code_text": "500"}, True),
        (ERR_SPAN, {"code_text": "500.0"}, False),
        (ERR_SPAN, {"ratio": "0.5"}, True),  # the span's value wins over the resource's
        (ERR_SPAN, {"ratio": "9"}, False),
        (ERR_SPAN, {"ratio": ".50"}, True),
        (ERR_SPAN, {"cached": "true"}, True),
        (ERR_SPAN, {"cached": "True"}, True),
        (ERR_SPAN, {"cached": "false"}, False),
        (ERR_SPAN, {"cached_text": "true"}, True),
        (ERR_SPAN, {"one": "true"}, False),
        (ERR_SPAN, {"one": "1"}, True),
        (ERR_SPAN, {"reasons": '["stop"]'}, False),
        (ERR_SPAN, {"reasons": "stop"}, False),
        (ERR_SPAN, {"missing": ""}, False),
        (ERR_SPAN, {"error": "true"}, True),
        (ERR_SPAN, {"error": "false"}, False),
        (ERR_SPAN, {"otel.status_code": "ERROR"}, True),
        (ERR_SPAN, {"otel.status_code": "OK"}, False),
        (ERR_SPAN, {"otel.status_description": "boom"}, True),
        (ERR_SPAN, {"span.kind": "server"}, True),
        (ERR_SPAN, {"span.kind": "client"}, False),
        (ERR_SPAN, {"gen_ai.request.model": "m/big"}, True),
        (ERR_SPAN, {"gen_ai.request.model": "m/small"}, True),
        (ERR_SPAN, {"gen_ai.response.model": "m/big"}, True),
        (ERR_SPAN, {"llm.model_name": "m/big"}, True),
        (ERR_SPAN, {"model_name": "m/other"}, False),
        (ERR_SPAN, {"batch_size": "8"}, True),
        (ERR_SPAN, {"gpu_utilization": "0.5"}, True),
        (ERR_SPAN, {"gen_ai.latency.time_to_first_token": "0.25"}, True),
        (ERR_SPAN, {"k8s.pod.name": "pod-1"}, True),
        (ERR_SPAN, {"service.name": "svc"}, True),
        (ERR_SPAN, {"error": "true", "http.status_code": "500", "k8s.pod.name": "pod-1"}, True),
        (ERR_SPAN, {"error": "true", "http.status_code": "404"}, False),
        (OK_SPAN, {"error": "true"}, False),
        (OK_SPAN, {"error": "false"}, True),
        (OK_SPAN, {"span.kind": "custom"}, True),
        (OK_SPAN, {"otel.status_code": "OK"}, False),
        (OK_SPAN, {}, True),
    ],
)
def test_tag_query_matches(span: Span, tags: dict[str, str], expected: bool) -> None:
    assert TagQuery(tags).matches(span) is expected


@pytest.mark.parametrize(
    ("text", "meanings"),
    [
        ("abc", ("abc",)),
        ("500", ("500", 500)),
        ("-7", ("-7", -7)),
        ("0.25", ("0.25", 0.25)),
        ("1e3", ("1e3", 1000.0)),
        ("true", ("true", True)),
        ("FALSE", ("FALSE", False)),
        ("nan", ("nan",)),
        ("1e999", ("1e999",)),
        ("", ("",)),
    ],
)
def test_typed_values(text: str, meanings: tuple[AttributeValue, ...]) -> None:
    got = typed_values(text)
    assert got == meanings
    assert [type(v) for v in got] == [type(v) for v in meanings]


def _mixed_spans() -> list[Span]:
    spans = Workload(seed=5).spans(600)
    extra = [
        make_span(
            trace_id=bytes([i + 1]) * 16,
            span_id=bytes([i + 1]) * 8,
            start_time_unix_nano=T0 + i,
            kind=kind,
            status_code=status,
            model_name=model,
            attributes=attrs,
        )
        for i, (kind, status, model, attrs) in enumerate(
            [
                (SpanKind.CLIENT, StatusCode.ERROR, None, {"error": "true", "code": 500}),
                (SpanKind.SERVER, StatusCode.UNSET, None, {"error": True, "code": "500"}),
                (SpanKind.SERVER, StatusCode.OK, "m/x", {"gen_ai.request.model": "m/y"}),
                (SpanKind.UNSPECIFIED, StatusCode.UNSET, None, {"otel.status_code": "OK"}),
                (SpanKind.UNSPECIFIED, StatusCode.UNSET, None, {"llm.model_name": "m/x"}),
                (SpanKind.INTERNAL, StatusCode.UNSET, None, {"code": 500.0, "flag": "1"}),
            ]
        )
    ]
    return spans + extra


@pytest.mark.parametrize(
    "tags",
    [
        {},
        {"error": "true"},
        {"error": "false"},
        {"code": "500"},
        {"code": "500", "error": "true"},
        {"otel.status_code": "OK"},
        {"otel.status_code": "ERROR", "error": "true"},
        {"gen_ai.request.model": "m/x"},
        {"gen_ai.request.model": "m/y"},
        {"llm.model_name": "m/x"},
        {"gen_ai.response.model": "meta-llama/Llama-3.1-8B-Instruct", "error": "true"},
        {"span.kind": "server", "engine.stage": "decode"},
        {"component": "engine", "engine.stage": "prefill"},
        {"flag": "1", "code": "500", "error": "false", "otel.status_code": "OK", "x": "true"},
        {"gen_ai.request.max_tokens": "512", "gen_ai.request.temperature": "0.7"},
        {"k8s.pod.name": "vllm-llama-8b-01", "batch_size": "8"},
    ],
)
def test_store_filters_never_lose_a_match(tags: dict[str, str]) -> None:
    """The union of the store queries holds every span the tags match, and no more queries
    than MAX_QUERIES are run."""
    spans = _mixed_spans()
    query = TagQuery(tags)
    expected = {s.span_id for s in spans if query.matches(s)}
    with MemoryStore(span_capacity=10_000) as store:
        store.write_batch(spans)
        filters = store_filters(SpanFilter(limit=10_000), query)
        assert 1 <= len(filters) <= MAX_QUERIES
        union = {s.span_id for f in filters for s in store.list_spans(f)}
    assert expected <= union
    if tags:
        assert len(union) < len(spans), "the store narrowed nothing"


def test_store_filters_push_down_what_the_store_can_filter() -> None:
    query = TagQuery({"error": "true", "gen_ai.request.model": "m/x", "span.kind": "server"})
    filters = store_filters(SpanFilter(service_name="svc"), query)
    got = {(f.status, f.model_name, tuple(sorted(f.attributes.items(), key=str))) for f in filters}
    assert got == {
        (StatusCode.ERROR, "m/x", ()),
        (StatusCode.ERROR, None, (("gen_ai.request.model", "m/x"),)),
        (None, "m/x", (("error", "true"),)),
        (None, "m/x", (("error", True),)),
        (None, None, (("error", "true"), ("gen_ai.request.model", "m/x"))),
        (None, None, (("error", True), ("gen_ai.request.model", "m/x"))),
    }
    assert all(f.service_name == "svc" for f in filters)


def test_store_filters_drop_impossible_combinations() -> None:
    # error=true by status ERROR and otel.status_code=OK by status OK cannot both hold.
    filters = store_filters(SpanFilter(), TagQuery({"error": "true", "otel.status_code": "OK"}))
    assert len(filters) == 3 * 2 - 1
    for f in filters:
        if f.status == StatusCode.ERROR:
            assert dict(f.attributes) == {"otel.status_code": "OK"}
        elif f.status == StatusCode.OK:
            assert set(f.attributes) == {"error"}
        else:
            assert set(f.attributes) == {"error", "otel.status_code"}


def test_store_filters_cap_the_number_of_queries() -> None:
    tags = {f"k{i}": "1" for i in range(6)}  # each may be "1" or 1: 2**6 ways in all
    filters = store_filters(SpanFilter(), TagQuery(tags))
    assert len(filters) == MAX_QUERIES
    assert {len(f.attributes) for f in filters} == {3}
