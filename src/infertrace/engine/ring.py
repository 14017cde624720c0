"""Sequence bookkeeping for a fixed-capacity ring of columnar rows.

Rows get consecutive sequence numbers; row ``seq`` lives in slot
``seq % capacity``. Rows are evicted oldest first, so the live rows are always
the sequence range ``[tail, head)``. The ring holds no data itself: the table
that owns the columns is told, through ``on_evict``, which rows are about to
be overwritten so it can clean its indexes first (the seed's SetOnEvict).
"""

from __future__ import annotations

from collections.abc import Callable

EvictListener = Callable[[int, int], None]
"""Called with the sequence range ``[lo, hi)`` of rows about to be dropped."""


class RingBuffer:
    """Allocates slots for appended rows and evicts the oldest when full."""

    __slots__ = ("capacity", "evicted", "head", "on_evict", "tail")

    def __init__(self, capacity: int, on_evict: EvictListener | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.head = 0
        self.tail = 0
        self.evicted = 0
        self.on_evict = on_evict

    def __len__(self) -> int:
        return self.head - self.tail

    def slot(self, seq: int) -> int:
        return seq % self.capacity

    def is_live(self, seq: int) -> bool:
        return self.tail <= seq < self.head

    def spans(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """Slot runs of sequence range [lo, hi): (slot_start, slot_end, offset from lo)."""
        out = []
        seq = lo
        while seq < hi:
            start = seq % self.capacity
            end = min(self.capacity, start + hi - seq)
            out.append((start, end, seq - lo))
            seq += end - start
        return out

    def evict_to(self, seq: int) -> int:
        """Evict every live row with sequence below ``seq``; returns how many. O(k)."""
        seq = min(seq, self.head)
        if seq <= self.tail:
            return 0
        if self.on_evict is not None:
            self.on_evict(self.tail, seq)
        n = seq - self.tail
        self.tail = seq
        self.evicted += n
        return n

    def reserve(self, n: int) -> int:
        """Make room for ``n`` rows (evicting the oldest), return the first new sequence.

        ``n`` must not exceed the capacity. The caller writes the rows'
        columns at ``spans(first, first + n)``.
        """
        if n > self.capacity:
            raise ValueError(f"cannot reserve {n} rows in a ring of {self.capacity}")
        overflow = len(self) + n - self.capacity
        if overflow > 0:
            self.evict_to(self.tail + overflow)
        first = self.head
        self.head += n
        return first

    def _check(self) -> None:
        assert 0 <= self.tail <= self.head
        assert self.head - self.tail <= self.capacity
