"""The request rule over the span table, vectorised (:mod:`infertrace.telemetry.analytics`).

A span with a model is a request unless a live row is its parent with the same
service and model: the same trace id, a span id equal to its parent id, the same
service and model codes. The parent is looked up among all live rows, not only
the window's; an evicted or purged parent is not found, so its child counts.

- Roots (parent id all zeros) are requests without a look-up: where models sit
  on request spans only, the rule costs one comparison per candidate.
- Otherwise every live row with a model gets a 64-bit hash of (trace id, span
  id, service, model) and every child one of (trace id, parent id, service,
  model), computed over whole columns (no gathers); a byte map of the children's
  hashes drops the rows no child wants, and the children are looked up in a
  direct-mapped table of the rest (rows that lost their slot to another hash go
  to a sorted array, searched exactly). Each hit is then checked on the
  columns themselves, so the answer is exact: a child whose hash hit a row that
  is not its parent (a collision) is settled by a walk of its trace's rows.

O(capacity) vectorised work (and 24 bytes of scratch per slot) when some
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


def _hashes(t: SpanTable) -> tuple[U64, U64, U64]:
    """Per slot: hash of (trace, span id, service, model), hash of (trace, parent id,
    service, model), and (service, model) in one word.

    The last multiplication carries every input bit into the high bits, which are
    the ones used (a table slot is the top bits of a hash).
    """
    tid = t.tid.view(np.uint64)
    pair = (t.svc.astype(np.uint64) << _S32) | t.model.astype(np.uint32)
    common = tid[:, 0] * _K1
    common ^= tid[:, 1]
    common ^= pair * _K2
    as_row = common ^ t.sid.view(np.uint64)[:, 0]
    as_row *= _K3
    common ^= t.pid.view(np.uint64)[:, 0]
    common *= _K3
    return as_row, common, pair


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
    bits = _bits(2 * len(wanted), 10, 22)
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


def _is_parent(t: SpanTable, pair: U64, rows: I64, kids: I64) -> BOOL:
    """Whether each row is the parent of the kid beside it (same service and model)."""
    tid = t.tid.view(np.uint64)
    same: BOOL = (
        (t.sid.view(np.uint64)[rows, 0] == t.pid.view(np.uint64)[kids, 0])
        & (tid[rows, 0] == tid[kids, 0])
        & (tid[rows, 1] == tid[kids, 1])
        & (pair[rows] == pair[kids])
    )
    return same


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
    as_row, as_child, pair = _hashes(t)
    rows = np.flatnonzero(with_model)
    found = _find(as_row[rows], as_child[kids])
    hit = np.flatnonzero(found >= 0)
    exact = _is_parent(t, pair, rows[found[hit]], kids[hit])
    counted[kids[hit[exact]]] = False
    for i in hit[~exact].tolist():  # a hash collision: rare, settled on the columns
        if _has_parent_slow(t, int(kids[i])):
            counted[kids[i]] = False
    return counted
