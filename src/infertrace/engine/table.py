"""A generic columnar ring table: columns from a declarative spec, nothing domain-specific.

A :class:`TableSpec` lists the columns: a NumPy dtype and per-row shape each
(``int64`` times, ``(16,) uint8`` ids), the value an empty slot holds (the
null sentinel of an optional number), whether the column holds codes of a
reference-counted dictionary (strings and other hashable values,
:class:`~infertrace.engine.strings.ValueDict`), or Python objects (payloads
too irregular for an array). :class:`RingTable` keeps ``capacity`` rows in
those columns and gives every row a sequence number (row ``seq`` lives in slot
``seq % capacity``):

- :meth:`RingTable.append` writes a batch (arrays or sequences per column;
  dictionary columns take the values, ``None`` for absent) in one step,
  evicting the oldest rows first. A batch larger than the ring keeps its
  newest ``capacity`` rows; the others count as evicted, take no sequence
  number and are never seen by the eviction listener (nothing was built on them).
- Before rows are overwritten, the ``on_evict(lo, hi)`` listener runs with
  their sequence range while their columns are still readable, so the owner
  can clean its own indexes; then their dictionary codes are released and
  object slots cleared, so no dictionary entry or payload outlives its rows.
- Receive-time TTL: :meth:`RingTable.purge` evicts the rows received before a
  cutoff, in receive order.
- :meth:`RingTable.state` / :meth:`RingTable.from_state` hold everything needed
  to rebuild the table exactly, sequence numbers, eviction count and receive
  times included, so a restored table evicts and purges as the original would.

Not thread-safe: the owner's lock guards it. Costs: ``append`` O(n) plus
vectorised copies, eviction O(k) in the evicted rows, ``state`` O(capacity).
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from infertrace.engine.ring import RingBuffer
from infertrace.engine.strings import ValueDict

EvictListener = Callable[[int, int], None]
"""Called with the sequence range ``[lo, hi)`` of rows about to be evicted."""

OBJECT = "object"
"""The dtype of a column of Python objects (one list slot per row)."""


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``dtype`` (a NumPy dtype name, or :data:`OBJECT`), ``shape`` per row,
    ``fill`` for empty slots (the null sentinel of an optional value), and
    ``dictionary``: the name of the ValueDict whose codes it holds (int32, -1 absent).
    Several columns may share one dictionary."""

    name: str
    dtype: str = "int64"
    shape: tuple[int, ...] = ()
    fill: Any = 0
    dictionary: str | None = None

    def __post_init__(self) -> None:
        if self.dictionary is not None and (self.dtype != "int32" or self.shape):
            raise ValueError(f"dictionary column {self.name!r} must be int32 scalars")
        if self.dtype != OBJECT:
            np.dtype(self.dtype)  # raises TypeError for an unknown dtype


@dataclass(frozen=True, slots=True)
class TableSpec:
    """The columns of a table, in order; names must be unique."""

    columns: tuple[Column, ...]
    dictionaries: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"column names must be unique: {names}")
        dicts = tuple(dict.fromkeys(c.dictionary for c in self.columns if c.dictionary))
        object.__setattr__(self, "dictionaries", dicts)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


def _fill(col: Column) -> Any:
    return -1 if col.dictionary else col.fill  # a free slot holds no code


def _new(col: Column, capacity: int) -> Any:
    if col.dtype == OBJECT:
        return [col.fill] * capacity
    return np.full((capacity, *col.shape), _fill(col), dtype=col.dtype)


class RingTable:
    """``capacity`` rows in the columns of ``spec``; see the module doc."""

    def __init__(
        self,
        spec: TableSpec,
        capacity: int,
        on_evict: EvictListener | None = None,
        _columns: dict[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.ring = RingBuffer(capacity, self._evict)
        self.cols: dict[str, Any] = (
            {c.name: _new(c, capacity) for c in spec.columns} if _columns is None else _columns
        )
        self.dicts: dict[str, ValueDict] = {name: ValueDict() for name in spec.dictionaries}
        self.received: deque[tuple[int, int]] = deque()
        """(end sequence, receive time) per appended batch, oldest first."""
        self.on_evict = on_evict
        self._dict_cols = [c for c in spec.columns if c.dictionary]
        self._obj_cols = [c for c in spec.columns if c.dtype == OBJECT]

    @property
    def capacity(self) -> int:
        return self.ring.capacity

    def __len__(self) -> int:
        return len(self.ring)

    # -- writes ------------------------------------------------------------------------

    def append(self, batch: Mapping[str, Any], now: int) -> int:
        """Append one batch (every column, equal lengths); return its first sequence.

        Dictionary columns take values (``None`` for absent), or an integer array of
        codes the caller already made with the table's dictionary (``codes()``, not
        yet retained: the table retains what it keeps); others take arrays or
        sequences convertible to the column's dtype. All conversions happen before
        anything changes, so a bad value raises and leaves the table as it was.
        O(n) plus vectorised copies.
        """
        lengths = {len(batch[c.name]) for c in self.spec.columns}
        if len(lengths) != 1:
            raise ValueError(f"columns of one batch must have one length, got {sorted(lengths)}")
        n = lengths.pop()
        if not n:
            return self.ring.head
        keep = min(n, self.ring.capacity)
        cut = n - keep
        arrays: dict[str, Any] = {}
        for c in self.spec.columns:
            values = batch[c.name]
            if c.dictionary is None and c.dtype != OBJECT:
                arr = np.asarray(values, dtype=c.dtype)
                if arr.shape[1:] != c.shape:
                    raise ValueError(f"column {c.name!r} rows must have shape {c.shape}")
                arrays[c.name] = arr[cut:]
            elif c.dictionary is not None and isinstance(values, np.ndarray):
                arrays[c.name] = values[cut:].astype(np.int32)  # codes the caller made
            else:
                arrays[c.name] = list(values)[cut:]
        for c in self._dict_cols:  # codes last: nothing above can fail after this
            if not isinstance(arrays[c.name], np.ndarray):
                d = self.dicts[c.dictionary]  # type: ignore[index]
                arrays[c.name] = np.array(d.codes_or_none(arrays[c.name]), np.int32)
        for c in self._dict_cols:
            codes = arrays[c.name]
            self.dicts[c.dictionary].retain(codes[codes >= 0])  # type: ignore[index]
        if cut:
            self.ring.evict_to(self.ring.head)  # the whole ring goes: the batch fills it
            self.ring.evicted += cut
        first = self.ring.reserve(keep)
        for s, e, off in self.ring.spans(first, first + keep):
            for c in self.spec.columns:
                dest, src = self.cols[c.name], arrays[c.name][off : off + e - s]
                dest[s:e] = src
        self.received.append((first + keep, now))
        return first

    def _evict(self, lo: int, hi: int) -> None:
        if self.on_evict is not None:
            self.on_evict(lo, hi)
        for s, e, _ in self.ring.spans(lo, hi):
            for c in self._dict_cols:
                codes = self.cols[c.name][s:e]
                self.dicts[c.dictionary].release(codes[codes >= 0])  # type: ignore[index]
                self.cols[c.name][s:e] = -1
            for c in self._obj_cols:
                self.cols[c.name][s:e] = [c.fill] * (e - s)
        while self.received and self.received[0][0] <= hi:
            self.received.popleft()

    def evict_to(self, seq: int) -> int:
        """Evict every row below sequence ``seq``; return how many. O(k)."""
        return self.ring.evict_to(seq)

    def stale(self, cutoff: int) -> bool:
        """Whether :meth:`purge` with ``cutoff`` would evict anything. O(1)."""
        return bool(self.received) and self.received[0][1] < cutoff

    def purge(self, cutoff: int) -> int:
        """Evict the rows received before ``cutoff`` (receive order); return how many."""
        end = self.ring.tail
        for batch_end, when in self.received:
            if when >= cutoff:
                break
            end = batch_end
        return self.ring.evict_to(end)

    # -- reads -------------------------------------------------------------------------

    def slots(self, seqs: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The slots of sequence numbers ``seqs``."""
        return seqs % self.ring.capacity

    def seq_of(self, slots: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The sequence number of the newest row written at each slot (live or not)."""
        head = self.ring.head
        return head - 1 - ((head - 1 - slots) % self.ring.capacity)

    def live_mask(self, lo_slot: int, hi_slot: int) -> npt.NDArray[np.bool_]:
        """Which slots in ``[lo_slot, hi_slot)`` hold live rows. O(hi_slot - lo_slot)."""
        if len(self.ring) == self.ring.capacity:
            return np.ones(hi_slot - lo_slot, dtype=np.bool_)
        seqs = self.seq_of(np.arange(lo_slot, hi_slot, dtype=np.int64))
        return (seqs >= self.ring.tail) & (seqs >= 0)

    def live(self) -> npt.NDArray[np.int64]:
        """Every live sequence number, oldest first."""
        return np.arange(self.ring.tail, self.ring.head, dtype=np.int64)

    def value(self, column: str, seq: int) -> Any:
        """The value of one cell (a dictionary column's value, None when absent)."""
        c = self.spec.column(column)
        raw = self.cols[column][seq % self.ring.capacity]
        if c.dictionary is None:
            return raw
        return None if raw < 0 else self.dicts[c.dictionary].values[int(raw)]

    def data_bytes(self) -> int:
        """Bytes of the columns, object payloads and dictionaries, measured."""
        total = 0
        for c in self.spec.columns:
            col = self.cols[c.name]
            if c.dtype == OBJECT:
                total += sys.getsizeof(col) + sum(sys.getsizeof(v) for v in col if v is not c.fill)
            else:
                total += int(col.nbytes)
        return total + sum(d.nbytes() for d in self.dicts.values())

    # -- state -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this table exactly (see :meth:`from_state`).

        Columns are the live rows oldest first (arrays, or lists for object
        columns); dictionary columns hold codes into ``dictionaries``, whose
        entries are listed by code (None for a free code), with each
        dictionary's ``ValueDict.ranks()`` in ``dictionary_ranks`` so that a
        rebuilt dictionary hands out new codes as this one would. O(capacity).
        """
        ring = self.ring
        columns: dict[str, Any] = {}
        runs = ring.spans(ring.tail, ring.head)
        for c in self.spec.columns:
            col = self.cols[c.name]
            if c.dtype == OBJECT:
                columns[c.name] = [v for s, e, _ in runs for v in col[s:e]]
            elif len(runs) == 1:
                columns[c.name] = col[runs[0][0] : runs[0][1]].copy()
            else:  # wrapped (two runs) or empty (none)
                columns[c.name] = np.concatenate([col[s:e] for s, e, _ in runs] or [col[:0]])
        return {
            "capacity": ring.capacity,
            "tail": ring.tail,
            "head": ring.head,
            "evicted": ring.evicted,
            "received": list(self.received),
            "columns": columns,
            "dictionaries": {name: list(d.values) for name, d in self.dicts.items()},
            "dictionary_ranks": {name: d.ranks() for name, d in self.dicts.items()},
        }

    @classmethod
    def from_state(
        cls,
        spec: TableSpec,
        state: Mapping[str, Any],
        on_evict: EvictListener | None = None,
        check: bool = False,
    ) -> RingTable:
        """The table :meth:`state` described: same rows at the same sequence numbers,
        same dictionary codes, eviction count and receive times. ``check`` runs
        :meth:`_check` on the result (O(capacity) in Python: tests, not start-up).
        O(capacity) in vectorised copies; ValueError for an inconsistent state."""
        capacity = int(state["capacity"])
        tail, head = int(state["tail"]), int(state["head"])
        if capacity < 1 or not 0 <= tail <= head or head - tail > capacity:
            raise ValueError(f"state holds rows [{tail}, {head}) for capacity {capacity}")
        # Uninitialised columns: the live runs are copied in below and only the free
        # slots filled, so each page is written once (np.full first cost ~0.8 s at 1M).
        cols = {
            c.name: [c.fill] * capacity
            if c.dtype == OBJECT
            else np.empty((capacity, *c.shape), dtype=c.dtype)
            for c in spec.columns
        }
        table = cls(spec, capacity, on_evict, cols)
        free = table.ring.spans(head, tail + capacity)  # the slots no live row holds
        ranks = state.get("dictionary_ranks") or {}
        for name, values in state["dictionaries"].items():
            if name not in table.dicts:
                raise ValueError(f"state has a dictionary {name!r} the spec does not name")
            table.dicts[name] = ValueDict.from_values(values, ranks=ranks.get(name))
        table.ring.tail, table.ring.head = tail, head
        table.ring.evicted = int(state["evicted"])
        runs = table.ring.spans(tail, head)
        n = head - tail
        for c in spec.columns:
            values = state["columns"][c.name]
            if len(values) != n:
                raise ValueError(f"column {c.name!r} holds {len(values)} rows, not {n}")
            col = table.cols[c.name]
            if c.dtype != OBJECT:
                values = np.asarray(values, dtype=c.dtype)
                if values.shape[1:] != c.shape:
                    raise ValueError(f"column {c.name!r} rows must have shape {c.shape}")
            for s, e, off in runs:
                col[s:e] = values[off : off + e - s]
            if c.dtype != OBJECT:
                for s, e, _ in free:
                    col[s:e] = _fill(c)
            if c.dictionary:
                codes = values
                d = table.dicts[c.dictionary]
                if len(codes) and int(codes.max()) >= len(d.values):
                    raise ValueError(f"column {c.name!r} holds codes beyond its dictionary")
                d.retain(codes[codes >= 0])
        for name, d in table.dicts.items():
            refs = d.refcounts()
            if bool(np.any((refs > 0) != np.array([v is not None for v in d.values], bool))):
                raise ValueError(f"dictionary {name!r} does not match the codes its rows hold")
        table.received = deque((int(e), int(t)) for e, t in state["received"])
        if check:
            table._check()
        return table

    def _check(self) -> None:
        """Invariants: ring bounds; every live code retained once per row using it;
        evicted slots hold no codes or payloads; receive marks ordered and live."""
        self.ring._check()
        live_slots = set(self.slots(self.live()).tolist())
        for name, d in self.dicts.items():
            d._check()
            counts: dict[int, int] = {}
            for c in self._dict_cols:
                if c.dictionary != name:
                    continue
                codes = self.cols[c.name]
                for slot in live_slots:
                    code = int(codes[slot])
                    if code >= 0:
                        counts[code] = counts.get(code, 0) + 1
            for code in d.live_codes():
                assert d.refcount(code) == counts.get(code, 0), (name, code)
            assert set(counts) == set(d.live_codes()), name
        for c in self._dict_cols:
            for slot in set(range(self.capacity)) - live_slots:
                assert self.cols[c.name][slot] == -1, (c.name, slot)
        ends = [e for e, _ in self.received]
        assert ends == sorted(ends) and all(e <= self.ring.head for e in ends)


__all__ = ["OBJECT", "Column", "EvictListener", "RingTable", "TableSpec"]
