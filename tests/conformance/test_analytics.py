"""Per-model analytics, time series and leaderboards: the same figures as the reference."""

from __future__ import annotations

import dataclasses
import random
import statistics
from operator import methodcaller
from typing import Any

import pytest

from infertrace.model import Span, SpanKind, StatusCode
from infertrace.telemetry.analytics import GroupBy, SeriesMetric, SpanScope
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.reference import ReferenceStore

from .conftest import START_NS, Both, Clock
from .data import W0, load

HOUR = 3_600 * 10**9

WINDOWS = [(None, None), (W0, W0 + 150_000_000), (START_NS, W0), (W0 + 10**15, None)]


@pytest.mark.parametrize("group_by", list(GroupBy))
@pytest.mark.parametrize("window", WINDOWS)
def test_model_analytics(
    both: Both, group_by: GroupBy, window: tuple[int | None, int | None]
) -> None:
    load(both)
    both.same(lambda s: s.model_analytics(window[0], window[1], group_by))


def test_model_analytics_has_every_model(both: Both) -> None:
    load(both, traces=120)
    rows = both.same(lambda s: s.model_analytics())
    assert {r.key for r in rows} >= {"m-small", "meta-llama/Llama-3.1-8B-Instruct"}


@pytest.mark.parametrize("metric", list(SeriesMetric))
@pytest.mark.parametrize("step", [1, 50_000_000, 3_600 * 10**9])
def test_timeseries(both: Both, metric: SeriesMetric, step: int) -> None:
    load(both)
    both.same(lambda s: s.timeseries(metric, step))


@pytest.mark.parametrize(
    ("model", "window"),
    [
        ("meta-llama/Llama-3.1-70B-Instruct", (None, None)),
        ("m-small", (START_NS, W0)),
        ("nope", (None, None)),
        (None, (W0, W0 + 100_000_000)),
    ],
)
def test_timeseries_by_model_and_window(
    both: Both, model: str | None, window: tuple[int | None, int | None]
) -> None:
    load(both)
    for metric in (SeriesMetric.REQUESTS, SeriesMetric.LATENCY_P95, SeriesMetric.TOKENS_PER_SECOND):
        both.same(methodcaller("timeseries", metric, 20_000_000, window[0], window[1], model))


@pytest.mark.parametrize("by", list(SeriesMetric))
@pytest.mark.parametrize("limit", [1, 3, 10])
def test_leaderboard(both: Both, by: SeriesMetric, limit: int) -> None:
    load(both)
    both.same(lambda s: s.leaderboard(by, limit=limit))


def test_leaderboard_in_window(both: Both) -> None:
    load(both)
    both.same(lambda s: s.leaderboard(SeriesMetric.LATENCY_P99, W0, W0 + 200_000_000, 10))


@pytest.mark.parametrize("step", [0, -5])
def test_timeseries_rejects_non_positive_step(both: Both, step: int) -> None:
    from infertrace import InvalidFilter

    load(both)
    for store in (both.store, both.oracle):
        with pytest.raises(InvalidFilter, match="step"):
            store.timeseries(SeriesMetric.REQUESTS, step)


# --- requests, not spans -----------------------------------------------------------
#
# A request is a span that carries a model and whose parent is not a span of the
# same service carrying the same model (infertrace.telemetry.analytics).

MS = 1_000_000
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
EMBED = "BAAI/bge-small-en-v1.5"


def _genai_trace(
    n: int, start: int, duration: int, service: str = "rag-app", model: str = LLAMA
) -> list[Span]:
    """One request of an app instrumented per the OpenTelemetry GenAI semantic
    conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/): the app's HTTP
    server span (no model) over the inference span (``chat {model}``, CLIENT kind,
    ``gen_ai.operation.name``, ``gen_ai.request.model``, usage), whose five children
    repeat ``gen_ai.request.model`` as instrumentations do. ``model_name`` is what
    ingest lifts from ``gen_ai.request.model``. Children are 40-60 ms, the request
    ``duration``."""
    trace = bytes([0x40 + n]) * 16
    http, chat = bytes([n, 1]) * 4, bytes([n, 2]) * 4
    genai = {"gen_ai.request.model": model, "gen_ai.provider.name": "openai"}
    spans = [
        Span(trace, http, service, "POST /v1/answer", start, duration + 5 * MS,
             kind=SpanKind.SERVER, attributes={"http.request.method": "POST"}),
        Span(trace, chat, service, f"chat {model}", start + MS, duration, http,
             kind=SpanKind.CLIENT, model_name=model, input_tokens=100 + n,
             output_tokens=20 + n, attributes={**genai, "gen_ai.operation.name": "chat",
                                               "gen_ai.usage.input_tokens": 100 + n,
                                               "gen_ai.usage.output_tokens": 20 + n}),
    ]  # fmt: skip
    for i, op in enumerate(("embeddings", "retrieve", "rerank", "execute_tool", "format")):
        spans.append(
            Span(trace, bytes([n, 3 + i]) * 4, service, f"{op} {model}", start + (2 + i) * MS,
                 (40 + 5 * i) * MS, chat, kind=SpanKind.INTERNAL, model_name=model,
                 attributes={**genai, "gen_ai.operation.name": op})
        )  # fmt: skip
    return spans


REQUEST_MS = (289, 250, 420)


def _genai_spans() -> list[Span]:
    return [
        s
        for n, ms in enumerate(REQUEST_MS)
        for s in _genai_trace(n + 1, W0 + n * 1_000 * MS, ms * MS)
    ]


def test_a_genai_trace_is_one_request(each_store: Any) -> None:
    each_store.write_batch(_genai_spans())
    [row] = each_store.model_analytics()
    # Worked out from the fixture, not by the code under test: three chat spans.
    assert (row.key, row.requests, row.errors) == (LLAMA, 3, 0)
    assert row.latency_p50_ns == statistics.median(REQUEST_MS) * MS == 289 * MS
    assert row.latency_max_ns == max(REQUEST_MS) * MS
    assert (row.input_tokens, row.output_tokens) == (101 + 102 + 103, 21 + 22 + 23)
    # Every span with a model, when asked: the chat spans and their 15 children.
    [every] = each_store.model_analytics(spans=SpanScope.ALL)
    assert every.requests == 18
    # Sorted: 40, 40, 40, 45, 45, 45, 50, 50, 50, 55, ... 420; p50 at rank 0.5 * 17 = 8.5.
    assert every.latency_p50_ns == 52.5 * MS
    by_service = each_store.model_analytics(group_by=GroupBy.SERVICE)
    assert [(r.key, r.requests) for r in by_service] == [("rag-app", 3)]
    by_operation = each_store.model_analytics(group_by=GroupBy.OPERATION)
    assert [(r.key, r.requests) for r in by_operation] == [(f"chat {LLAMA}", 3)]


def test_timeseries_and_leaderboard_count_requests(each_store: Any) -> None:
    each_store.write_batch(_genai_spans())
    second = 1_000 * MS
    requests = each_store.timeseries(SeriesMetric.REQUESTS, second)
    assert [(p.bucket_start_unix_nano, p.value) for p in requests] == [
        (W0 + n * second, 1.0) for n in range(3)
    ]
    p50 = each_store.timeseries(SeriesMetric.LATENCY_P50, 10 * second, model_name=LLAMA)
    assert [p.value for p in p50] == [289 * MS]
    every = each_store.timeseries(SeriesMetric.REQUESTS, second, spans=SpanScope.ALL)
    assert [p.value for p in every] == [6.0, 6.0, 6.0]
    board = each_store.leaderboard(SeriesMetric.REQUESTS)
    assert [(e.model_name, e.value) for e in board] == [(LLAMA, 3.0)]
    board = each_store.leaderboard(SeriesMetric.LATENCY_P99, spans=SpanScope.ALL)
    assert board[0].model_name == LLAMA


def test_a_child_with_another_model_is_a_request(each_store: Any) -> None:
    spans = _genai_trace(1, W0, 300 * MS)
    chat = spans[1]
    embed = Span(chat.trace_id, bytes([9]) * 8, "rag-app", f"embeddings {EMBED}",
                 W0 + 2 * MS, 7 * MS, chat.span_id, model_name=EMBED)  # fmt: skip
    each_store.write_batch([*spans, embed])
    rows = each_store.model_analytics()
    assert [(r.key, r.requests, r.latency_max_ns) for r in rows] == [
        (EMBED, 1, 7 * MS),
        (LLAMA, 1, 300 * MS),
    ]


def test_a_child_in_another_service_with_the_same_model_is_a_request(each_store: Any) -> None:
    # A gateway span with the model calls the model server, which records it too.
    trace = bytes([0x51]) * 16
    gateway = Span(trace, bytes([1]) * 8, "llm-gateway", f"chat {LLAMA}", W0, 320 * MS,
                   kind=SpanKind.CLIENT, model_name=LLAMA)  # fmt: skip
    server = Span(trace, bytes([2]) * 8, "vllm-llama-8b", f"chat {LLAMA}", W0 + 2 * MS,
                  310 * MS, gateway.span_id, kind=SpanKind.SERVER, model_name=LLAMA)  # fmt: skip
    decode = Span(trace, bytes([3]) * 8, "vllm-llama-8b", "decode", W0 + 60 * MS, 250 * MS,
                  server.span_id, model_name=LLAMA)  # fmt: skip
    each_store.write_batch([decode, server, gateway])  # children first, as SDKs export
    rows = each_store.model_analytics(group_by=GroupBy.SERVICE)
    assert [(r.key, r.requests, r.latency_max_ns) for r in rows] == [
        ("llm-gateway", 1, 320 * MS),
        ("vllm-llama-8b", 1, 310 * MS),
    ]
    [row] = each_store.model_analytics()
    assert (row.key, row.requests) == (LLAMA, 2)


def test_the_parent_counts_outside_the_window_and_not_once_purged(
    each_store: Any, clock: Clock
) -> None:
    spans = _genai_trace(1, clock.now, 300 * MS)
    http, chat, children = spans[0], spans[1], spans[2:]
    each_store.write_batch([http, chat])
    later = clock.now + 2 * HOUR
    clock.now = later
    moved = [dataclasses.replace(c, start_time_unix_nano=later + i) for i, c in enumerate(children)]
    each_store.write_batch(moved)
    # The chat span is outside this window but stored: its children are not requests.
    assert each_store.model_analytics(since=later) == []
    assert [r.requests for r in each_store.model_analytics()] == [1]
    clock.now = later + 10
    each_store.purge_older_than(3_600)  # seconds: the chat span (and the http span) go
    rows = each_store.model_analytics()
    assert [(r.requests, r.latency_max_ns) for r in rows] == [(5, 60 * MS)]


def test_a_child_counts_once_its_parent_is_evicted(clock: Clock) -> None:
    spans = _genai_trace(1, W0, 300 * MS)
    for store in (MemoryStore(6, 10, 10, clock=clock), ReferenceStore(6, clock=clock)):
        store.write_batch(spans[:6])  # the http span, the chat span, four children
        assert [r.requests for r in store.model_analytics()] == [1]
        store.write_batch(spans[6:])  # the fifth child evicts the http span
        assert [r.requests for r in store.model_analytics()] == [1]
        store.write_batch([spans[0]])  # the chat span goes: its children are requests
        assert [(r.requests, r.latency_max_ns) for r in store.model_analytics()] == [(5, 60 * MS)]


def test_a_span_that_is_its_own_parent_is_not_a_request(each_store: Any) -> None:
    # Malformed, but every store must agree: its parent carries its service and model.
    loop = Span(bytes([0x61]) * 16, bytes([7]) * 8, "svc", "op", W0, MS, bytes([7]) * 8,
                model_name=LLAMA)  # fmt: skip
    each_store.write_batch([loop])
    assert each_store.model_analytics() == []
    assert [r.requests for r in each_store.model_analytics(spans=SpanScope.ALL)] == [1]


def _random_batches(seed: int) -> list[list[Span]]:
    """Traces of random shape, shuffled across batches (a parent written before or
    after its children, in or out of the windows below), with and without models, in
    two services, some with a parent never received."""
    rng = random.Random(seed)
    spans = []
    for t in range(40):
        trace = bytes([1 + t]) * 16
        ids = [bytes([t + 1, k + 1]) * 4 for k in range(rng.randint(1, 9))]
        for k, sid in enumerate(ids):
            parent = rng.choice(ids[:k]) if k and rng.random() < 0.8 else b""
            if rng.random() < 0.1:
                parent = bytes([0xEE]) * 8
            spans.append(
                Span(
                    trace,
                    sid,
                    rng.choice(("api", "vllm")),
                    "op",
                    W0 + rng.randrange(200) * MS,
                    rng.randrange(1, 50) * MS,
                    parent,
                    status_code=rng.choice(list(StatusCode)),
                    model_name=rng.choice((None, LLAMA, LLAMA, EMBED)),
                    output_tokens=rng.choice((None, 5, 9)),
                )
            )
    rng.shuffle(spans)
    cuts = sorted(rng.sample(range(1, len(spans)), 9))
    return [spans[i:j] for i, j in zip([0, *cuts], [*cuts, len(spans)], strict=True)]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("scope", list(SpanScope))
def test_the_request_rule_matches_the_reference(both: Both, seed: int, scope: SpanScope) -> None:
    for batch in _random_batches(seed):
        both.spans(batch)
    for lo, hi in [(None, None), (W0 + 50 * MS, W0 + 120 * MS)]:
        for group_by in GroupBy:
            both.same(methodcaller("model_analytics", lo, hi, group_by, scope))
        for metric in SeriesMetric:
            both.same(methodcaller("timeseries", metric, 20 * MS, lo, hi, None, scope))
            both.same(methodcaller("timeseries", metric, 20 * MS, lo, hi, LLAMA, scope))
            both.same(methodcaller("leaderboard", metric, lo, hi, 10, scope))


# --- inference timings: queue, TTFT, TPOT, tokens/s --------------------------------
#
# The rules (infertrace.telemetry.analytics): a request's time is its e2e time, else its
# duration; its decode time the decode column, else time - TTFT (>= 0), else time; TPOT
# = decode time / (output tokens - 1) with more than one token and decode or TTFT known.

TPOT_CASES = [
    # (columns, TPOT, decode time for tokens/s), worked out by hand
    ({"output_tokens": 11, "decode_time_nanos": 200 * MS}, 20 * MS, 200 * MS),
    ({"output_tokens": 11, "decode_time_nanos": 200 * MS, "time_to_first_token_nanos": 50 * MS},
     20 * MS, 200 * MS),
    ({"output_tokens": 11, "time_to_first_token_nanos": 100 * MS}, 30 * MS, 300 * MS),
    ({"output_tokens": 11, "time_to_first_token_nanos": 100 * MS, "e2e_time_nanos": 350 * MS},
     25 * MS, 250 * MS),
    ({"output_tokens": 5, "time_to_first_token_nanos": 900 * MS}, 0.0, 0),
    ({"output_tokens": 11}, None, 400 * MS),
    ({"output_tokens": 11, "e2e_time_nanos": 380 * MS}, None, 380 * MS),
    ({"output_tokens": 1, "decode_time_nanos": 200 * MS}, None, 200 * MS),
    ({"output_tokens": 0, "time_to_first_token_nanos": 100 * MS}, None, 300 * MS),
    ({"decode_time_nanos": 200 * MS}, None, None),
]  # fmt: skip


@pytest.mark.parametrize(("columns", "tpot", "decode"), TPOT_CASES)
def test_time_per_output_token_of_one_request(
    each_store: Any, columns: dict[str, int], tpot: float | None, decode: int | None
) -> None:
    span = Span(bytes([0x71]) * 16, bytes([1]) * 8, "vllm", "llm_request", W0, 400 * MS,
                kind=SpanKind.SERVER, model_name=LLAMA, **columns)  # type: ignore[arg-type]  # fmt: skip
    each_store.write_batch([span])
    [row] = each_store.model_analytics()
    assert (row.tpot_p50_ns, row.tpot_p95_ns) == (tpot, tpot)
    out = columns.get("output_tokens")
    rate = None if out is None or not decode else out / (decode / 1e9)
    assert row.output_tokens_per_second == (None if rate is None else pytest.approx(rate))
    [point] = each_store.timeseries(SeriesMetric.TPOT_P95, HOUR)
    assert point.value == tpot


def test_queue_and_ttft_percentiles_skip_unknown_values(each_store: Any) -> None:
    queue = [5, None, 40, 10, None, 25]
    ttft = [None, 120, 80, None, None, 200]
    spans = [
        Span(bytes([0x72]) * 16, bytes([1, i]) * 4, "vllm", "llm_request", W0 + i * MS,
             500 * MS, model_name=LLAMA, queue_time_nanos=None if q is None else q * MS,
             time_to_first_token_nanos=None if f is None else f * MS)
        for i, (q, f) in enumerate(zip(queue, ttft, strict=True))
    ]  # fmt: skip
    each_store.write_batch(spans)
    [row] = each_store.model_analytics()
    # Queue over 5, 10, 25, 40: p50 at rank 1.5 = 17.5, p95 at rank 2.85 = 25 + 0.85 * 15.
    assert row.queue_p50_ns == pytest.approx(17.5 * MS)
    assert row.queue_p95_ns == pytest.approx((25 + 0.85 * 15) * MS)
    # TTFT over 80, 120, 200: p50 = 120, p95 at rank 1.9 = 120 + 0.9 * 80.
    assert row.ttft_p50_ns == 120 * MS
    assert row.ttft_p95_ns == pytest.approx((120 + 0.9 * 80) * MS)
    assert (row.tpot_p50_ns, row.tpot_p95_ns) == (None, None)
    board = each_store.leaderboard(SeriesMetric.QUEUE_P95)
    assert [e.model_name for e in board] == [LLAMA]
    assert each_store.leaderboard(SeriesMetric.TPOT_P50) == []


def _timing_spans(seed: int) -> list[Span]:
    """Requests and children with every mix of known and unknown timings and counts."""
    rng = random.Random(seed)

    def maybe(lo: int, hi: int) -> int | None:
        return rng.randrange(lo, hi) * MS if rng.random() < 0.6 else None

    spans = []
    for t in range(60):
        trace = bytes([0x80 + t]) * 16
        root = bytes([t + 1, 1]) * 4
        for k, parent in enumerate((b"", root, root)):
            spans.append(
                Span(trace, root if k == 0 else bytes([t + 1, k + 1]) * 4, "vllm",
                     "llm_request", W0 + rng.randrange(300) * MS, rng.randrange(1, 900) * MS,
                     parent, model_name=rng.choice((LLAMA, EMBED, None)),
                     output_tokens=rng.choice((None, 0, 1, 2, 7, 300)),
                     queue_time_nanos=maybe(0, 50), time_to_first_token_nanos=maybe(0, 1000),
                     decode_time_nanos=maybe(0, 800), e2e_time_nanos=maybe(1, 900),
                     prefill_time_nanos=maybe(0, 90))
            )  # fmt: skip
    rng.shuffle(spans)
    return spans


@pytest.mark.parametrize("seed", [4, 5])
def test_timings_match_the_reference(both: Both, seed: int) -> None:
    spans = _timing_spans(seed)
    both.spans(spans[:70])
    both.spans(spans[70:])
    for scope in SpanScope:
        for lo, hi in [(None, None), (W0 + 100 * MS, W0 + 200 * MS)]:
            both.same(methodcaller("model_analytics", lo, hi, GroupBy.MODEL, scope))
            for metric in SeriesMetric:
                both.same(methodcaller("timeseries", metric, 50 * MS, lo, hi, None, scope))
                both.same(methodcaller("leaderboard", metric, lo, hi, 10, scope))
