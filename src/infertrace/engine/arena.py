"""A growable ring of float64 values addressed by ever-increasing offsets.

Variable-length payloads (attribute values) are appended in row order and
released in row order, so live values form one window ``[tail, head)`` of a
virtual address space; offset ``v`` lives at ``v % len(buf)``. The buffer
doubles when the window would not fit.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


class ValueArena:
    """Append-in-order, release-in-order float64 storage."""

    def __init__(self, initial: int = 1024) -> None:
        self.buf = np.zeros(max(16, initial), dtype=np.float64)
        self.head = 0
        self.tail = 0

    def __len__(self) -> int:
        return self.head - self.tail

    def append(self, values: F64) -> int:
        """Store ``values`` contiguously in offset space; return the first offset. O(n)."""
        n = len(values)
        need = self.head + n - self.tail
        if need > len(self.buf):
            self._grow(need)
        cap = len(self.buf)
        start = self.head
        s = start % cap
        first = min(n, cap - s)
        self.buf[s : s + first] = values[:first]
        if first < n:
            self.buf[: n - first] = values[first:]
        self.head += n
        return start

    def _grow(self, need: int) -> None:
        cap = len(self.buf)
        new_cap = cap
        while new_cap < need:
            new_cap *= 2
        live = np.arange(self.tail, self.head, dtype=np.int64)
        new = np.zeros(new_cap, dtype=np.float64)
        new[live % new_cap] = self.buf[live % cap]
        self.buf = new

    def release_to(self, offset: int) -> None:
        """Forget every value below ``offset``."""
        self.tail = max(self.tail, min(offset, self.head))

    def take(self, offsets: npt.NDArray[np.int64]) -> F64:
        """Values at the given live offsets (vectorised)."""
        return self.buf[offsets % len(self.buf)]

    def nbytes(self) -> int:
        return int(self.buf.nbytes)

    def _check(self) -> None:
        assert 0 <= self.tail <= self.head
        assert self.head - self.tail <= len(self.buf)
