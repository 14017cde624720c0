"""Hypothesis state machine: MemoryStore answers exactly as the ReferenceStore.

Spans reach each store by either write path (``write_batch``, or ``write`` one
span at a time), chosen per step and per store, so the paths are compared too.
"""

from __future__ import annotations

import math

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from infertrace import (
    InvalidRecord,
    LogFilter,
    MemoryStore,
    MetricFilter,
    ReferenceStore,
    SpanFilter,
    StatusCode,
    TraceNotFound,
)
from infertrace.model import LogRecord, MetricPoint, MetricType, Span
from infertrace.telemetry.analytics import GroupBy, SpanScope
from infertrace.telemetry.batches import SpanBatch

CAP = 12
SERVICES = ["a", "b", "c"]
MODELS = [None, "m1", "m2"]
attr_values = st.one_of(
    st.sampled_from(["x", "y"]),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.0, 2**60]),
    st.booleans(),
    st.just((1, "t")),
    st.just(b"\x00b"),
)
attrs = st.dictionaries(st.sampled_from(["k1", "k2", "k3"]), attr_values, max_size=3)
filter_values = st.one_of(
    st.sampled_from(["x", "y", "p1"]),
    st.integers(-3, 3),
    st.sampled_from([0.5, 1.0, 2**60]),
    st.booleans(),
)
times = st.integers(0, 50)
BAD_SPAN = Span(
    trace_id=b"\x01", span_id=b"\x01" * 8, service_name="a", operation_name="x",
    start_time_unix_nano=1, duration_nanos=1,
)  # fmt: skip
"""A span every store refuses: its trace id is one byte long."""


@st.composite
def spans(draw: st.DrawFn) -> Span:
    return Span(
        trace_id=bytes(15) + bytes([draw(st.integers(1, 6))]),
        span_id=bytes(7) + bytes([draw(st.integers(1, 250))]),
        # Parents among the first ids, so some are stored (the request rule).
        parent_span_id=draw(st.sampled_from([b"", *(bytes(7) + bytes([i]) for i in (1, 2, 3))])),
        service_name=draw(st.sampled_from(SERVICES)),
        operation_name=draw(st.sampled_from(["op1", "op2"])),
        start_time_unix_nano=draw(times),
        duration_nanos=draw(st.integers(0, 20)),
        status_code=draw(st.sampled_from(list(StatusCode))),
        model_name=draw(st.sampled_from(MODELS)),
        output_tokens=draw(st.one_of(st.none(), st.integers(0, 100))),
        time_to_first_token_nanos=draw(st.one_of(st.none(), st.integers(0, 10))),
        batch_size=draw(st.one_of(st.none(), st.integers(1, 8))),
        gpu_utilization=draw(st.one_of(st.none(), st.sampled_from([0.25, 0.5]))),
        attributes=draw(attrs),
        resource_attributes=draw(st.sampled_from([{}, {"k8s.pod.name": "p1"}, {"k1": "x"}])),
    )


@st.composite
def logs(draw: st.DrawFn) -> LogRecord:
    return LogRecord(
        time_unix_nano=draw(times),
        service_name=draw(st.sampled_from(SERVICES)),
        body=draw(st.sampled_from(["ok", "oom error", "slow"])),
        severity_number=draw(st.integers(0, 24)),
        trace_id=draw(st.sampled_from([b"", bytes(15) + b"\x01"])),
        attributes=draw(attrs),
    )


@st.composite
def points(draw: st.DrawFn) -> MetricPoint:
    return MetricPoint(
        name=draw(st.sampled_from(["g1", "g2"])),
        type=MetricType.GAUGE,
        service_name=draw(st.sampled_from(SERVICES)),
        time_unix_nano=draw(st.integers(0, 2**40)),
        value=draw(st.floats(-10, 10)),
        attributes=draw(st.sampled_from([{}, {"pod": "p1"}, {"pod": "p2"}])),
    )


span_filters = st.builds(
    SpanFilter,
    service_name=st.sampled_from([None, *SERVICES]),
    model_name=st.sampled_from(MODELS),
    operation_name=st.sampled_from([None, "op1"]),
    since=st.one_of(st.none(), times),
    until=st.one_of(st.none(), times),
    min_duration_ns=st.one_of(st.none(), st.integers(0, 20)),
    status=st.sampled_from([None, *StatusCode]),
    attributes=st.one_of(
        st.just({}),
        st.dictionaries(st.sampled_from(["k1", "k8s.pod.name"]), filter_values, max_size=1),
    ),
    limit=st.integers(1, 15),
)


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


class StoreComparison(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0
        self.mem = MemoryStore(CAP, CAP, CAP, clock=lambda: self.now)
        self.ref = ReferenceStore(CAP, CAP, CAP, clock=lambda: self.now)

    @rule(
        batch=st.lists(spans(), max_size=2 * CAP),
        mem_path=st.sampled_from(["record", "list", "columns"]),
        ref_path=st.sampled_from(["record", "list", "columns"]),
    )
    def write_spans(self, batch: list[Span], mem_path: str, ref_path: str) -> None:
        """Each store takes the spans by ``write`` one at a time, in one ``write_batch``
        of a list, or in one of a column batch (the decoders' path): the paths are
        compared in every direction."""
        for store, path in ((self.mem, mem_path), (self.ref, ref_path)):
            if path == "record":
                for span in batch:
                    store.write(span)
            elif path == "list":
                store.write_batch(batch)
            else:
                store.write_batch(SpanBatch.of(batch))

    @rule(batch=st.lists(spans(), min_size=1, max_size=4), bad=st.integers(0, 3))
    def write_bad_batch(self, batch: list[Span], bad: int) -> None:
        bad %= len(batch)
        broken = list(batch)
        broken[bad] = BAD_SPAN
        for store in (self.mem, self.ref):
            try:
                store.write_batch(broken)
            except InvalidRecord as err:
                assert err.index == bad
            else:
                raise AssertionError("bad batch accepted")

    @rule()
    def write_bad_record(self) -> None:
        for store in (self.mem, self.ref):
            try:
                store.write(BAD_SPAN)
            except InvalidRecord as err:
                assert err.index == 0
            else:
                raise AssertionError("bad span accepted")

    @rule(batch=st.lists(logs(), max_size=2 * CAP))
    def write_logs(self, batch: list[LogRecord]) -> None:
        self.mem.write_logs(batch)
        self.ref.write_logs(batch)

    @rule(batch=st.lists(points(), max_size=2 * CAP))
    def write_points(self, batch: list[MetricPoint]) -> None:
        self.mem.write_metrics(batch)
        self.ref.write_metrics(batch)

    @rule(advance=st.integers(0, 3), age=st.integers(1, 4))
    def purge(self, advance: int, age: int) -> None:
        self.now += advance * 10**9
        assert self.mem.purge_older_than(age) == self.ref.purge_older_than(age)

    @rule(flt=span_filters)
    def list_spans(self, flt: SpanFilter) -> None:
        assert self.mem.list_spans(flt) == self.ref.list_spans(flt)

    @rule(trace=st.integers(1, 6))
    def get_trace(self, trace: int) -> None:
        tid = bytes(15) + bytes([trace])
        try:
            expected = self.ref.get_trace(tid)
        except TraceNotFound:
            expected = []
        try:
            got = self.mem.get_trace(tid)
        except TraceNotFound:
            got = []
        assert got == expected

    @rule(
        service=st.sampled_from([None, *SERVICES]),
        sev=st.integers(0, 24),
        body=st.sampled_from([None, "oom", "o"]),
        trace=st.sampled_from([None, bytes(15) + b"\x01"]),
        limit=st.integers(1, 15),
    )
    def list_logs(
        self, service: str | None, sev: int, body: str | None, trace: bytes | None, limit: int
    ) -> None:
        flt = LogFilter(
            service_name=service, min_severity=sev, body_contains=body, trace_id=trace, limit=limit
        )
        assert self.mem.list_logs(flt) == self.ref.list_logs(flt)

    @rule(
        name=st.sampled_from([None, "g1"]),
        pod=st.sampled_from([None, "p1"]),
        since=st.one_of(st.none(), st.integers(0, 2**40)),
        limit=st.integers(1, 15),
    )
    def list_points(self, name: str | None, pod: str | None, since: int | None, limit: int) -> None:
        flt = MetricFilter(
            name=name, attributes={"pod": pod} if pod else {}, since=since, limit=limit
        )
        assert self.mem.list_metric_points(flt) == self.ref.list_metric_points(flt)

    @rule(group_by=st.sampled_from(list(GroupBy)), scope=st.sampled_from(list(SpanScope)))
    def analytics(self, group_by: GroupBy, scope: SpanScope) -> None:
        got = self.mem.model_analytics(group_by=group_by, spans=scope)
        expected = self.ref.model_analytics(group_by=group_by, spans=scope)
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            for field in g.__dataclass_fields__:
                assert _close(getattr(g, field), getattr(e, field)), (field, g, e)

    @invariant()
    def same_listings(self) -> None:
        assert self.mem.services() == self.ref.services()
        assert self.mem.models() == self.ref.models()
        assert self.mem.metric_names() == self.ref.metric_names()
        for s in SERVICES:
            assert self.mem.operations(s) == self.ref.operations(s)
        ms, rs = self.mem.stats(), self.ref.stats()
        for a, b in ((ms.spans, rs.spans), (ms.logs, rs.logs), (ms.metrics, rs.metrics)):
            assert (a.count, a.evicted) == (b.count, b.evicted)

    @invariant()
    def internal_invariants(self) -> None:
        self.mem._check()


StoreComparison.TestCase.settings = settings(
    max_examples=int(__import__("os").environ.get("INFERTRACE_HYPOTHESIS_EXAMPLES", "60")),
    stateful_step_count=30,
    deadline=None,
)
TestStoreComparison = StoreComparison.TestCase
