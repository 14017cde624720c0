"""The memory store's request rule (telemetry/memory/requests.py) against the reference.

The conformance suite checks the answers; these tests drive the parts real data
rarely reaches: keys whose hashes collide (the rule must stay exact), crowded
and lost table slots, eviction and purge of parents, the look-up on its own.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from infertrace.model import Span
from infertrace.telemetry.analytics import GroupBy, SeriesMetric, SpanScope
from infertrace.telemetry.memory import MemoryStore, requests
from infertrace.telemetry.reference import ReferenceStore
from tests.conformance.conftest import assert_close

U64 = np.uint64
REAL_HASH = requests._hash


def _weak_hash(t0: npt.NDArray[Any], t1: Any, pair: Any, ids: Any) -> npt.NDArray[Any]:
    """The real hash without its last multiplication: still one value per XOR of the
    key's words (what the proof of a hit relies on), but its top bits, which pick the
    slot, barely vary: nearly every key shares a slot with another."""
    h: npt.NDArray[Any] = REAL_HASH(t0, t1, pair, ids) * U64(0x319642B2D24D8EC3)
    return h  # K3 inverse mod 2**64: h is the XOR itself


def _one_slot(h: npt.NDArray[Any], shift: Any) -> npt.NDArray[np.int64]:
    """Every hash in map cell 0 and table slot 0: all but one key lost, searched."""
    return np.zeros(len(h), dtype=np.int64)


@pytest.fixture(params=["real", "weak_hash", "one_slot"])
def hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "weak_hash":
        monkeypatch.setattr(requests, "_hash", _weak_hash)
    elif request.param == "one_slot":
        monkeypatch.setattr(requests, "_top", _one_slot)
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


# Keys that differ but hash alike under the real hash: equal first trace-id word and
# (service, model), second trace-id word and span id whose XORs are equal.
_X = b"\x07" * 8
_TRACE_A = _X + (1).to_bytes(8, "little")
_TRACE_B = _X + (2).to_bytes(8, "little")
_ID_A = (0x10).to_bytes(8, "little")
_ID_B = (0x10 ^ 1 ^ 2).to_bytes(8, "little")


def _colliding() -> tuple[Span, Span, Span]:
    """A row in trace A, the parent in trace B whose key hashes like it, the child."""
    decoy = Span(_TRACE_A, _ID_A, "svc", "op", 10, 5, model_name="m")
    parent = Span(_TRACE_B, _ID_B, "svc", "op", 11, 6, model_name="m")
    child = Span(_TRACE_B, b"\x09" * 8, "svc", "op", 12, 7, _ID_B, model_name="m")
    return decoy, parent, child


def test_the_colliding_keys_do_collide() -> None:
    def h(trace: bytes, sid: bytes) -> int:
        words = np.frombuffer(trace + sid, dtype=U64)
        pair = np.array([0], dtype=U64)
        return int(REAL_HASH(words[:1], words[1:2], pair, words[2:3])[0])

    assert _TRACE_A != _TRACE_B and _ID_A != _ID_B
    assert h(_TRACE_A, _ID_A) == h(_TRACE_B, _ID_B)


@pytest.mark.parametrize("order", ["decoy first", "parent first", "no parent"])
def test_a_hash_collision_is_settled_on_the_columns(order: str) -> None:
    decoy, parent, child = _colliding()
    batch = {
        "decoy first": [decoy, parent, child],
        "parent first": [parent, decoy, child],
        "no parent": [decoy, child],
    }[order]
    mem, ref = MemoryStore(100, 10, 10), ReferenceStore(100)
    for store in (mem, ref):
        store.write_batch(batch)
    # The decoy and the parent are roots; the child (7 ns) counts only without its parent.
    longest = 7 if order == "no parent" else 6
    for store in (mem, ref):
        assert [(r.requests, r.latency_max_ns) for r in store.model_analytics()] == [(2, longest)]
    _same(mem, ref)


def test_siblings_whose_keys_collide_are_answered_apart() -> None:
    # Two children written one after the other whose wanted keys hash alike: only
    # the first has its parent stored.
    decoy, _, _ = _colliding()
    has = Span(_TRACE_A, b"\x21" * 8, "svc", "op", 20, 3, _ID_A, model_name="m")
    lacks = Span(_TRACE_B, b"\x22" * 8, "svc", "op", 21, 4, _ID_B, model_name="m")
    mem, ref = MemoryStore(100, 10, 10), ReferenceStore(100)
    for store in (mem, ref):
        store.write_batch([decoy, has, lacks])
        assert [(r.requests, r.latency_max_ns) for r in store.model_analytics()] == [(2, 5)]
    _same(mem, ref)
