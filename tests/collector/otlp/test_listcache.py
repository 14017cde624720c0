from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from infertrace.collector.otlp.anyvalue import set_any_value
from infertrace.collector.otlp.decode_traces import TraceDecoder
from infertrace.collector.otlp.kvcache import KeyValueCache
from infertrace.collector.otlp.listcache import AttributeListCache, attribute_entry
from infertrace.model import EMPTY_ATTRIBUTES
from infertrace.telemetry import semconv as lift

SCOPE = (("otel.scope.name", "s"),)


def raw(key: str, value: Any) -> bytes:
    kv = KeyValue(key=key)
    set_any_value(kv.value, value)
    return kv.SerializeToString()


def uncached() -> KeyValueCache:
    """A KeyValue cache that never remembers anything: the reference path."""
    return KeyValueCache(max_entry_bytes=-1)


KEYS = [*lift.LIFT, "", "plain", "otel.scope.name", "gen_ai.system"]
VALUES = st.one_of(
    st.sampled_from(["", "m", "vllm", "12", "-3", "1.5", "٣"]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, 7, 2**31 - 1, 2**31]),
    st.floats(allow_nan=False),
    st.booleans(),
    st.binary(max_size=3),
    st.lists(st.sampled_from(["a", 1, 2.5]), max_size=2).map(tuple),
)
ATTRIBUTES = st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=8)


def test_entry_lifts_and_keeps_scope_first() -> None:
    raws = (raw("gen_ai.request.model", "m"), raw("plain", 1), raw("batch_size", -1))
    (attrs, columns, problem), parsed = attribute_entry(raws, SCOPE, uncached())
    assert list(attrs.items()) == [
        ("otel.scope.name", "s"),
        ("gen_ai.request.model", "m"),  # lifted and kept as sent
        ("plain", 1),
        ("batch_size", -1),
    ]
    assert columns[lift.MODEL_NAME] == "m" and columns[lift.BATCH_SIZE] is None
    assert problem is None and parsed
    empty = (EMPTY_ATTRIBUTES, (None,) * (len(lift.COLUMNS) + 1), None)
    assert attribute_entry((), (), uncached())[0] == empty
    assert attribute_entry((raw("", 1),), (), uncached())[0][2] == "empty attribute key"


def test_a_list_is_remembered_the_second_time_it_is_seen() -> None:
    lists = AttributeListCache(KeyValueCache())
    table = lists.table(SCOPE)
    raws = (raw("gen_ai.system", "vllm"), raw("gen_ai.usage.input_tokens", 5))
    first = lists.decode(table, raws, SCOPE)
    assert table.get(raws) is None  # its KeyValues had to be parsed: probably a one-off
    second = lists.decode(table, raws, SCOPE)
    assert table.get(raws) is second and second == first
    assert lists.table(SCOPE) is table and lists.table(()) is not table


def test_bounds_empty_tables_instead_of_growing() -> None:
    lists = AttributeListCache(KeyValueCache(), capacity=3, max_list_bytes=40, max_scopes=2)
    table = lists.table(SCOPE)
    for i in range(10):
        raws = (raw("k", i),)
        lists.decode(table, raws, SCOPE)
        lists.decode(table, raws, SCOPE)
        assert len(table) <= 3
    long = (raw("k", "x" * 50),)
    lists.decode(table, long, SCOPE)
    lists.decode(table, long, SCOPE)
    assert table.get(long) is None
    for name in "abc":
        lists.table((("otel.scope.name", name),))
        assert len(lists._tables) <= 2


@settings(max_examples=300, deadline=None)
@given(ATTRIBUTES, st.sampled_from([(), SCOPE, (*SCOPE, ("otel.scope.version", "1"))]))
def test_cached_entries_are_exactly_the_reference_entries(
    attributes: list[tuple[str, Any]], scope: tuple[tuple[str, str], ...]
) -> None:
    raws = tuple(raw(k, v) for k, v in attributes)
    reference, _ = attribute_entry(raws, scope, uncached())
    lists = AttributeListCache(KeyValueCache())
    table = lists.table(scope)
    for _ in range(3):
        entry = table.get(raws) or lists.decode(table, raws, scope)
        assert repr(entry) == repr(reference)  # same items in the same order, same columns
        assert list(entry[0].items()) == list(reference[0].items())


def _span(i: int, attributes: list[tuple[str, Any]], bad: int) -> PbSpan:
    span = PbSpan(
        trace_id=bytes(range(1, 17)),
        span_id=bytes([0, 0, 0, 0, 0, 0, 1, i]),
        name=f"op{i % 3}",
        start_time_unix_nano=1_000,
        end_time_unix_nano=2_000,
    )
    if bad == 1:
        span.span_id = bytes(8)
    elif bad == 2:
        span.status.code = 7  # type: ignore[assignment]
    elif bad == 3:
        span.events.add(name="e", time_unix_nano=5).attributes.add(key="")
    for k, v in attributes:
        set_any_value(span.attributes.add(key=k).value, v)
    return span


REQUESTS = st.lists(
    st.tuples(
        st.sampled_from(["svc-a", "svc-b", ""]),
        st.sampled_from(["", "scope-1"]),
        st.lists(st.tuples(ATTRIBUTES, st.sampled_from([0, 0, 0, 1, 2, 3])), max_size=6),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(REQUESTS)
def test_warm_decoding_gives_exactly_the_records_of_uncached_decoding(groups: Any) -> None:
    request = ExportTraceServiceRequest()
    for service, scope, spans in groups:
        rs = request.resource_spans.add()
        if service:
            rs.resource.attributes.add(key="service.name", value=AnyValue(string_value=service))
        ss = rs.scope_spans.add()
        ss.scope.name = scope
        ss.spans.extend(_span(i, attrs, bad) for i, (attrs, bad) in enumerate(spans))
    body = request.SerializeToString()
    reference = TraceDecoder(uncached()).decode(body)
    warm = TraceDecoder()
    for _ in range(3):  # cold, then lists seen once, then every cache hit
        got = warm.decode(body)
        assert repr(got.records) == repr(reference.records)
        assert (got.rejected, got.reasons) == (reference.rejected, reference.reasons)
