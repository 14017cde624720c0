"""Analytics from metrics over real stores (memory, PostgreSQL): vLLM, SGLang, GenAI.

The points are shaped as each producer sends them (``metric_producers``); each
expected row is worked out from the raw observations the simulated pods recorded,
by plain loops, never by the code under test.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infertrace.errors import InvalidFilter
from infertrace.model import MetricPoint
from infertrace.telemetry.analytics import GroupBy
from infertrace.telemetry.memory import MemoryStore
from infertrace.telemetry.metric_analytics import MetricGroupStats, metric_analytics
from infertrace.telemetry.metric_read import points_in, store_reader
from tests.telemetry.metric_producers import (
    GPT,
    LLAMA,
    QWEN,
    VLLM_LATENCY,
    Fleet,
    S,
    Truth,
    expected,
    ns,
    quantile,
)


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet()


def _write(store: Any, points: list[MetricPoint]) -> None:
    for i in range(0, len(points), 1000):
        store.write_metrics(points[i : i + 1000])


@pytest.fixture(params=["memory", "memory-generic", "postgres"])
def analytics(request: pytest.FixtureRequest, fleet: Fleet) -> Iterator[Any]:
    """``metric_analytics`` over a store holding the fleet's points: the memory store
    (column reader), the memory store read through ``list_metric_points``, PostgreSQL."""
    if request.param == "postgres":
        from infertrace.telemetry.postgres import PostgresStore

        store: Any = PostgresStore(request.getfixturevalue("pg_dsn"))
    else:
        store = MemoryStore(metric_capacity=100_000)
    _write(store, fleet.points)
    if hasattr(store, "flush"):
        store.flush()
    read = store_reader(store) if request.param == "memory-generic" else None

    def run(**kw: Any) -> list[MetricGroupStats]:
        return metric_analytics(store, fleet.since, fleet.until, read=read, **kw)

    yield run
    store.close()


def test_rows_per_model_from_vllm_sglang_and_genai_metrics(analytics: Any, fleet: Fleet) -> None:
    rows = {r.key: r for r in analytics()}
    assert list(rows) == sorted([LLAMA, QWEN, GPT])
    llama = Truth()
    for t in (fleet.a, fleet.b):
        llama.add(t)  # a Truth has an Interval's fields
    want = {
        LLAMA: expected(llama, llama.reasons.count("abort"), fleet.seconds),
        QWEN: expected(fleet.c, fleet.c.reasons.count("abort"), fleet.seconds, sglang=True),
        GPT: expected(fleet.g, fleet.g_failed, fleet.seconds, genai=True),
    }
    for model, fields in want.items():
        row = rows[model]
        assert {k: getattr(row, k) for k in fields} == fields, model
    last = {pod: s[-1] for pod, s in fleet.scrapes.items()}
    assert rows[LLAMA].running_requests == sum(s.running for s in last.values())
    assert rows[LLAMA].waiting_requests == sum(s.waiting for s in last.values())
    assert rows[LLAMA].kv_cache_usage == pytest.approx(sum(s.cache for s in last.values()) / 2)
    assert rows[GPT].running_requests is None and rows[GPT].kv_cache_usage is None
    assert "vllm:prompt_tokens" in rows[LLAMA].metric_names  # pod b's spelling
    assert "vllm:prompt_tokens_total" in rows[LLAMA].metric_names  # pod a's


def test_rows_per_pod_keep_each_pods_own_requests(analytics: Any, fleet: Fleet) -> None:
    rows = {r.key: r for r in analytics(group_by=GroupBy.POD)}
    assert set(rows) == {"vllm-a", "vllm-b", "sglang-0", "chat-app-1"}
    for pod, truth in (("vllm-a", fleet.a), ("vllm-b", fleet.b)):
        row = rows[pod]
        assert row.requests == len(truth.e2e), pod
        assert row.errors == truth.reasons.count("abort"), pod
        assert row.input_tokens == truth.prompt, pod
        assert row.latency_p95_ns == ns(quantile(0.95, truth.e2e, VLLM_LATENCY)), pod
        assert row.running_requests == fleet.scrapes[pod][-1].running, pod
        assert row.kv_cache_usage == pytest.approx(fleet.scrapes[pod][-1].cache), pod


def test_rows_per_service(analytics: Any, fleet: Fleet) -> None:
    rows = {r.key: r.requests for r in analytics(group_by=GroupBy.SERVICE)}
    assert rows == {
        "vllm": len(fleet.a.e2e) + len(fleet.b.e2e),
        "sglang": len(fleet.c.e2e),
        "chat-app": len(fleet.g.e2e),
    }


def test_the_restarted_pod_counts_both_runs(fleet: Fleet) -> None:
    """Pod b restarted at scrape 20 and began inside the window: every request it
    served counts (its truth holds all of them), none twice."""
    store = MemoryStore(metric_capacity=100_000)
    _write(store, fleet.points)
    row = {r.key: r for r in metric_analytics(store, fleet.since, fleet.until, GroupBy.POD)}
    served = len(fleet.b.e2e)
    assert served > 0 and row["vllm-b"].requests == served


def test_operation_grouping_is_refused_naming_the_value(fleet: Fleet) -> None:
    with pytest.raises(InvalidFilter, match="'operation'"):
        metric_analytics(MemoryStore(), fleet.since, fleet.until, GroupBy.OPERATION)


def test_an_empty_window_has_no_rows(fleet: Fleet) -> None:
    store = MemoryStore(metric_capacity=100_000)
    _write(store, fleet.points)
    assert metric_analytics(store, fleet.until, fleet.until + S) == []


def test_pages_read_every_point_of_a_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """More points than one page (``MAX_LIMIT``), many at one instant: each once."""
    import infertrace.telemetry.metric_read as metric_read
    from infertrace.model import MetricType

    monkeypatch.setattr(metric_read, "MAX_LIMIT", 7)
    store = MemoryStore(metric_capacity=1_000)
    now = time.time_ns() // S * S
    points = [
        MetricPoint(
            "g", MetricType.GAUGE, "svc", now - (k // 3) * S, float(k), attributes={"i": str(k % 3)}
        )
        for k in range(40)
    ]
    store.write_metrics(points)
    got = points_in(store, "g", now - 100 * S, now + 1)
    assert sorted(p.value for p in got if p.value is not None) == [float(k) for k in range(40)]


def test_every_series_read_holds_its_invariants(fleet: Fleet) -> None:
    from infertrace.telemetry.metric_names import stored_names
    from infertrace.telemetry.metric_read import reader_for

    store = MemoryStore(metric_capacity=100_000)
    _write(store, fleet.points)
    names = stored_names(store.metric_names())
    fast = reader_for(store)(names, fleet.since, fleet.until)
    slow = store_reader(store)(names, fleet.since, fleet.until)
    for s in (*fast, *slow):
        s._check()
    assert len(fast) == len(slow) == len({(p.name, tuple(sorted(p.attributes.items())),
                                           tuple(sorted(p.resource_attributes.items())))
                                          for p in fleet.points})  # fmt: skip


def test_readers_during_writes_see_whole_batches(fleet: Fleet) -> None:
    """Four threads read analytics while one writes the fleet's scrapes batch by batch:
    no reader fails, each sees the vLLM model's requests never go down (the restart is
    a reset, not a loss), and once the writer is done every reader sees the total."""
    import threading

    store = MemoryStore(metric_capacity=100_000)
    by_time: dict[int, list[MetricPoint]] = {}
    for p in fleet.points:
        by_time.setdefault(p.time_unix_nano, []).append(p)
    done = threading.Event()
    seen: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def read(i: int) -> None:
        try:
            while True:
                finished = done.is_set()
                rows = {r.key: r for r in metric_analytics(store, fleet.since, fleet.until)}
                seen[i].append(rows[LLAMA].requests or 0 if LLAMA in rows else 0)
                if finished:
                    return
        except BaseException as exc:  # a failure in a thread must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for when in sorted(by_time):
        store.write_metrics(by_time[when])
    done.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    total = len(fleet.a.e2e) + len(fleet.b.e2e)
    for counts in seen:
        assert counts == sorted(counts) and counts[-1] == total


def test_points_written_out_of_time_order_give_the_same_rows(fleet: Fleet) -> None:
    """Late points (a series' points stored out of time order) are read oldest first."""
    from infertrace.telemetry.metric_names import stored_names
    from infertrace.telemetry.metric_read import reader_for

    ordered, shuffled = MemoryStore(metric_capacity=100_000), MemoryStore(metric_capacity=100_000)
    _write(ordered, fleet.points)
    points = list(fleet.points)
    random.Random(9).shuffle(points)
    _write(shuffled, points)
    for s in reader_for(shuffled)(stored_names(shuffled.metric_names()), fleet.since, fleet.until):
        s._check()
    for group_by in (GroupBy.MODEL, GroupBy.POD):
        assert metric_analytics(shuffled, fleet.since, fleet.until, group_by) == metric_analytics(
            ordered, fleet.since, fleet.until, group_by
        )
