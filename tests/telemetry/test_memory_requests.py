"""The memory store's request rule (telemetry/memory/requests.py) against the reference.

The conformance suite checks the answers; these tests drive the parts real data
rarely reaches: hashes that collide (the rule must stay exact), lost table slots,
eviction and purge of parents, and the look-up helper on its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from infertrace.model import Span
from infertrace.telemetry.analytics import GroupBy, SeriesMetric, SpanScope
from infertrace.telemetry.memory import MemoryStore, requests
from infertrace.telemetry.memory.spans import SpanTable
from infertrace.telemetry.reference import ReferenceStore
from tests.conformance.conftest import assert_close

U64 = np.uint64
Three = tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]
REAL: Callable[[SpanTable], Three] = requests._hashes


def _constant(t: SpanTable) -> Three:
    """Every row and every child hashes alike: each hit is a collision."""
    row, child, pair = REAL(t)
    return np.full_like(row, 12345), np.full_like(child, 12345), pair


def _by_model(t: SpanTable) -> Three:
    """Hashes that only tell models apart, in the top bits that pick a slot."""
    h = (t.model.astype(U64) * U64(3)) << U64(60)
    return h, h.copy(), REAL(t)[2]


@pytest.fixture(params=["real", "constant", "by_model"])
def hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    fake = {"real": REAL, "constant": _constant, "by_model": _by_model}[request.param]
    monkeypatch.setattr(requests, "_hashes", fake)
    yield request.param


def _spans(rng: random.Random, n: int) -> list[Span]:
    """Small traces whose span ids repeat across traces, parents drawn from few ids."""
    sids = [k.to_bytes(8, "big") for k in range(1, 13)]
    return [
        Span(
            trace_id=bytes([rng.randint(1, 3)]) * 16,
            span_id=rng.choice(sids),
            parent_span_id=rng.choice([b"", *sids[:6]]),
            service_name=rng.choice("ab"),
            operation_name="op",
            start_time_unix_nano=rng.randint(1, 50),
            duration_nanos=rng.randint(0, 9),
            model_name=rng.choice([None, "m", "n"]),
        )
        for _ in range(n)
    ]


def _same(mem: MemoryStore, ref: ReferenceStore) -> None:
    for scope in SpanScope:
        for lo, hi in [(None, None), (10, 30)]:
            for group_by in GroupBy:
                assert_close(
                    mem.model_analytics(lo, hi, group_by, scope),
                    ref.model_analytics(lo, hi, group_by, scope),
                )
            for metric in (SeriesMetric.REQUESTS, SeriesMetric.LATENCY_P50):
                assert_close(
                    mem.timeseries(metric, 7, lo, hi, "m", scope),
                    ref.timeseries(metric, 7, lo, hi, "m", scope),
                )
                assert_close(
                    mem.leaderboard(metric, lo, hi, 10, scope),
                    ref.leaderboard(metric, lo, hi, 10, scope),
                )


@pytest.mark.parametrize("seed", range(40))
def test_the_rule_is_exact_whatever_the_hashes(hashes: str, seed: int) -> None:
    rng = random.Random(seed)
    capacity = rng.choice([5, 17, 64, 1000])
    mem = MemoryStore(capacity, 10, 10)
    ref = ReferenceStore(capacity)
    for _ in range(rng.randint(1, 8)):  # small rings: parents get evicted
        batch = _spans(rng, rng.randint(1, 12))
        mem.write_batch(batch)
        ref.write_batch(batch)
    _same(mem, ref)
    mem._check()


def test_a_purged_parent_no_longer_counts(hashes: str) -> None:
    now = [1_000]
    mem = MemoryStore(100, 10, 10, clock=lambda: now[0])
    ref = ReferenceStore(100, clock=lambda: now[0])
    trace = bytes([5]) * 16
    parent = Span(trace, bytes([1]) * 8, "a", "op", 10, 5, model_name="m")
    child = Span(trace, bytes([2]) * 8, "a", "op", 20, 3, parent.span_id, model_name="m")
    for store in (mem, ref):
        store.write_batch([parent])
    now[0] = 10**10
    for store in (mem, ref):
        store.write_batch([child])
        assert [r.requests for r in store.model_analytics()] == [1]
        store.purge_older_than(1.0)
        assert [(r.requests, r.latency_max_ns) for r in store.model_analytics()] == [(1, 3)]
    _same(mem, ref)


def test_find_gives_an_index_of_an_equal_hash_or_minus_one() -> None:
    keys = np.array([5, 9, 5 << 60, 7 << 60, 9, 3 << 61], dtype=U64)
    wanted = np.array([9, 1, 7 << 60, 5, 3 << 61, 3 << 61, 8], dtype=U64)
    found = requests._find(keys, wanted)
    for w, i in zip(wanted.tolist(), found.tolist(), strict=True):
        if w in keys.tolist():
            assert keys[i] == w
        else:
            assert i == -1


def test_find_when_many_keys_share_slots() -> None:
    rng = np.random.default_rng(7)
    keys = rng.integers(0, 2**20, 50_000, dtype=np.int64).astype(U64) << U64(40)
    wanted = np.concatenate([keys[::7], keys[::13] + U64(1)])
    found = requests._find(keys, wanted)
    present = np.isin(wanted, keys)
    assert (found[~present] == -1).all()
    assert (keys[found[present]] == wanted[present]).all()
