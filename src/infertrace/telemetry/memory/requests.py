"""The request rule over the span table, vectorised (:mod:`infertrace.telemetry.analytics`).

A span with a model is a request unless a live row is its parent with the same
service and model: the same trace id, a span id equal to its parent id, the same
service and model codes. The parent is looked up among all live rows, not only
the window's; an evicted or purged parent is not found, so its child counts.

- Roots (parent id all zeros) are requests without a look-up: where models sit
  on request spans only, the rule costs one comparison per candidate.
- Otherwise each child's key (trace id, parent id, service and model) is hashed,
  and so is every live row's with a model (trace id, span id, ...). Consecutive
  children with the same key (siblings, written together) are looked up once; a
  byte map of the wanted hashes drops the rows no child wants, and the rest go in
  a direct-mapped table (rows that lost their slot to another hash in a sorted
  array, searched exactly).
- A hit is checked on the columns, so the answer is exact. The hash is
  ``(t0 * K1 ^ t1 ^ pair * K2 ^ id) * K3`` over the trace id's two words, the
  (service, model) pair and the span or parent id: the odd ``K3`` makes equal
  hashes mean equal XORs, so equal hashes with equal ``t0``, ``pair`` and ``id``
  mean equal ``t1`` too, and three comparisons prove a key. A child whose hash
  hit a row that is not its parent (a collision) is settled by a walk of its
  trace's rows.

O(capacity) vectorised work (and about 24 bytes of scratch per slot) when some
candidate has a parent id, O(candidates) otherwise. The caller holds the read lock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from infertrace.telemetry.memory.spans import SpanTable

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
BOOL = npt.NDArray[np.bool_]

# Odd 64-bit multipliers (from splitmix64 and the golden ratio); products wrap.
_K1 = np.uint64(0x9E3779B97F4A7C15)
_K2 = np.uint64(0xBF58476D1CE4E5B9)
_K3 = np.uint64(0x94D049BB133111EB)
_K4 = np.uint64(0xD6E8FEB86659FD93)
_S32 = np.uint64(32)


def _hash(t0: U64, t1: U64, pair: U64, ids: U64) -> U64:
    """``(t0 * K1 ^ t1 ^ pair * K2 ^ ids) * K3``: the top bits depend on every input bit."""
    h = t0 * _K1
    h ^= t1
    h ^= pair * _K2
    h ^= ids
    h *= _K3
    return h


class _Keys:
    """The key columns of some slots: trace id words, (service, model), an id."""

    __slots__ = ("id", "pair", "t0", "t1")

    def __init__(self, t0: U64, t1: U64, pair: U64, ids: U64) -> None:
        self.t0, self.t1, self.pair, self.id = t0, t1, pair, ids

    @classmethod
    def of(cls, t: SpanTable, pair: U64, slots: I64 | slice, parent: bool) -> _Keys:
        """The key of ``slots`` as rows (span id) or as children (parent id)."""
        tid = t.tid.view(np.uint64)[slots]  # both words in one pass
        ids = (t.pid if parent else t.sid).view(np.uint64)[:, 0]
        return cls(tid[:, 0], tid[:, 1], pair[slots], ids[slots])

    def hashes(self) -> U64:
        return _hash(self.t0, self.t1, self.pair, self.id)

    def repeats(self) -> BOOL:
        """Whether each key but the first equals the one before, given equal hashes."""
        same: BOOL = (
            (self.id[1:] == self.id[:-1])
            & (self.t0[1:] == self.t0[:-1])
            & (self.pair[1:] == self.pair[:-1])
        )
        return same

    def proves(self, i: I64, other: _Keys, j: I64) -> BOOL:
        """Whether key ``i`` equals ``other``'s key ``j``, given equal hashes."""
        same: BOOL = (
            (self.id[i] == other.id[j])
            & (self.t0[i] == other.t0[j])
            & (self.pair[i] == other.pair[j])
        )
        return same


def _bits(n: int, lo: int, hi: int) -> int:
    """log2 of a table with about ``n`` slots, within ``[lo, hi]``."""
    return min(hi, max(lo, n.bit_length()))


def _top(h: U64, shift: np.uint64) -> I64:
    """The top bits of each hash, as indexes (a view: no conversion pass)."""
    top: I64 = (h >> shift).view(np.int64)
    return top


def _find(keys: U64, wanted: U64) -> I64:
    """For each wanted hash, the index of an equal hash in ``keys``, else -1. O(n + m).

    A byte map over the wanted hashes' top bits first drops most keys nobody wants
    (children carry a model too, and are rarely parents); the rest go in a
    direct-mapped table, and those that lost their slot to another hash into a
    sorted array searched exactly.
    """
    bits = _bits(8 * len(wanted), 10, 22)  # about 1 in 8 unwanted keys gets through
    shift = np.uint64(64 - bits)
    wanted_map = np.zeros(1 << bits, dtype=np.bool_)
    wanted_map[_top(wanted, shift)] = True
    cand = np.flatnonzero(wanted_map[_top(keys, shift)])
    if not len(cand):
        return np.full(len(wanted), -1, dtype=np.int64)
    ck = keys[cand]
    bits = _bits(4 * len(ck), 4, 30)  # at most a quarter of the slots taken
    shift = np.uint64(64 - bits)
    table: npt.NDArray[np.signedinteger[Any]] = np.full(
        1 << bits, -1, dtype=np.int32 if len(ck) < 2**31 else np.int64
    )
    # Rehashed: the map kept keys whose top bits match a wanted one, so their top
    # bits alone would crowd into the wanted keys' slots.
    slot = _top(ck * _K4, shift)
    table[slot] = np.arange(len(ck))  # one index per slot wins
    at = table[_top(wanted * _K4, shift)]
    hit = (ck[at] == wanted) & (at >= 0)  # ck[-1] is a valid read; the mask drops it
    found = np.where(hit, cand[at], -1)
    lost = np.flatnonzero(table[slot] != np.arange(len(ck)))  # another key won the slot
    miss = np.flatnonzero(~hit)
    if len(lost) and len(miss):
        lost = lost[np.argsort(ck[lost])]
        sorted_keys = ck[lost]
        pos = np.searchsorted(sorted_keys, wanted[miss])
        pos[pos == len(lost)] = 0
        again = sorted_keys[pos] == wanted[miss]
        found[miss[again]] = cand[lost[pos[again]]]
    return found


def _has_parent_slow(t: SpanTable, kid: int) -> bool:
    """The rule for one child, through the trace index. O(rows of its trace)."""
    cap = t.ring.capacity
    pid, svc, model = t.pid[kid].tobytes(), t.svc[kid], t.model[kid]
    for seq in t.traces.rows(t.tid[kid].tobytes(), t.ring.tail):
        r = seq % cap
        if t.sid[r].tobytes() == pid and t.svc[r] == svc and t.model[r] == model:
            return True
    return False


def requests(t: SpanTable, counted: BOOL, with_model: BOOL) -> BOOL:
    """``counted`` (a mask of live slots with a model) less the spans that are not
    requests; ``counted`` is changed in place and returned.

    ``with_model`` marks every live slot that carries a model (the parents that
    can count), whatever its time.
    """
    kids = np.flatnonzero(counted & (t.pid.view(np.uint64)[:, 0] != 0))
    if not len(kids):
        return counted
    pair = (t.svc.astype(np.uint64) << _S32) | t.model.astype(np.uint32)
    want = _Keys.of(t, pair, kids, parent=True)
    wanted = want.hashes()
    # A child with the key of the child before it shares its answer (siblings).
    first = np.ones(len(kids), dtype=np.bool_)
    first[1:] = (wanted[1:] != wanted[:-1]) | ~want.repeats()
    heads = np.flatnonzero(first)
    have = _Keys.of(t, pair, slice(None), parent=False)  # views of every slot
    rows = np.flatnonzero(with_model)  # every live row with a model may be a parent
    found = _find(have.hashes()[rows], wanted[heads])
    hit = np.flatnonzero(found >= 0)
    exact = want.proves(heads[hit], have, rows[found[hit]])
    has_parent = np.zeros(len(heads), dtype=np.bool_)
    has_parent[hit[exact]] = True
    for i in hit[~exact].tolist():  # a hash collision: rare, settled on the columns
        has_parent[i] = _has_parent_slow(t, int(kids[heads[i]]))
    counted[kids] = ~has_parent[np.cumsum(first) - 1]  # each child as its run's first
    return counted
