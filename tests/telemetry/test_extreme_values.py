"""Every store keeps any valid int64 time, duration and TTFT exactly (issue 9).

Times are validated to [0, 2**63); nothing downstream (column encoders, zone
maps, duration filters, analytics, log tables) may overflow on them. Each case
writes the same records to the MemoryStore and the ReferenceStore, the
oracle, and asks both the same questions.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from infertrace import LogFilter, MemoryStore, ReferenceStore, SpanFilter
from infertrace.model import LogRecord, Span
from infertrace.telemetry.analytics import GroupBy
from tests.conformance.conftest import assert_close

INT63 = st.integers(0, 2**63 - 1)
EDGES = st.sampled_from([0, 1, 2**31, 2**32, 2**62, 2**63 - 2, 2**63 - 1])
times = st.one_of(INT63, EDGES)


@st.composite
def spans(draw: st.DrawFn) -> Span:
    return Span(
        trace_id=bytes(15) + bytes([draw(st.integers(1, 4))]),
        span_id=bytes(7) + bytes([draw(st.integers(1, 250))]),
        service_name="svc",
        operation_name="op",
        start_time_unix_nano=draw(times),
        duration_nanos=draw(times),
        model_name=draw(st.sampled_from([None, "m"])),
        output_tokens=draw(st.one_of(st.none(), st.integers(0, 2**31 - 1))),
        time_to_first_token_nanos=draw(st.one_of(st.none(), times)),
    )


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.lists(spans(), min_size=1, max_size=5), min_size=1, max_size=4),
    bound=times,
)
def test_spans_with_extreme_times(batches: list[list[Span]], bound: int) -> None:
    mem, ref = MemoryStore(span_capacity=8), ReferenceStore(span_capacity=8)
    for batch in batches:
        mem.write_batch(batch)
        ref.write_batch(batch)
        mem._check()
    for flt in (
        SpanFilter(limit=100),
        SpanFilter(min_duration_ns=bound, limit=100),
        SpanFilter(max_duration_ns=bound, limit=100),
        SpanFilter(since=bound, limit=100),
        SpanFilter(until=bound, limit=100),
    ):
        assert mem.list_spans(flt) == ref.list_spans(flt), flt
    for group_by in (GroupBy.MODEL, GroupBy.SERVICE):
        assert_close(mem.model_analytics(group_by=group_by), ref.model_analytics(group_by=group_by))


@settings(max_examples=150, deadline=None)
@given(
    stamps=st.lists(st.tuples(times, times), min_size=1, max_size=12),
    bound=times,
)
def test_logs_with_extreme_times(stamps: list[tuple[int, int]], bound: int) -> None:
    mem, ref = MemoryStore(log_capacity=6), ReferenceStore(log_capacity=6)
    for t, observed in stamps:
        record = [LogRecord(time_unix_nano=t, observed_time_unix_nano=observed,
                            service_name="svc", body="b")]  # fmt: skip
        mem.write_logs(record)
        ref.write_logs(record)
    mem._check()
    for flt in (LogFilter(limit=100), LogFilter(since=bound, limit=100)):
        assert mem.list_logs(flt) == ref.list_logs(flt)
