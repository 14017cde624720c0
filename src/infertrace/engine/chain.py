"""An index from a key (a trace id) to all live rows that carry it.

The index keeps, per key, only the sequence number of the newest row; each row
keeps the distance back to the previous row with the same key (a per-key FIFO
threaded through a column). Because rows are evicted oldest first, evicting a
row only has to drop the key when that row was the key's newest: older chain
links simply fall below the ring's tail and stop the walk. Eviction is O(1)
per row and the index never points at an overwritten row.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence

import numpy as np

NO_LINK = 0
MAX_LINK = 2**32 - 1


class ChainIndex:
    """Key -> newest sequence, with a uint32 back-link column of ``capacity`` slots."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.newest: dict[Hashable, int] = {}
        self.back = np.zeros(capacity, dtype=np.uint32)
        self._back_view = memoryview(self.back)  # type: ignore[arg-type]

    def links(self, first_seq: int, end_seq: int) -> np.ndarray:
        """The back-links of rows ``first_seq .. end_seq - 1``, oldest first. O(n)."""
        return self.back[np.arange(first_seq, end_seq, dtype=np.int64) % self.capacity]

    def __len__(self) -> int:
        return len(self.newest)

    def add(self, keys: Sequence[Hashable], first_seq: int) -> None:
        """Index rows ``first_seq, first_seq + 1, ...`` under ``keys``. O(n)."""
        newest = self.newest
        back = self._back_view
        cap = self.capacity
        seq = first_seq
        for key in keys:
            prev = newest.get(key)
            d = 0 if prev is None else seq - prev
            back[seq % cap] = d if d <= MAX_LINK else NO_LINK
            newest[key] = seq
            seq += 1

    def evict(self, keys: Sequence[Hashable], first_seq: int) -> None:
        """Forget rows ``first_seq, ...`` (oldest first) that carried ``keys``. O(n)."""
        newest = self.newest
        seq = first_seq
        for key in keys:
            if newest.get(key) == seq:
                del newest[key]
            seq += 1

    def rows(self, key: Hashable, tail: int) -> list[int]:
        """Live sequence numbers of ``key``, newest first. O(rows of key)."""
        seq = self.newest.get(key)
        out: list[int] = []
        if seq is None:
            return out
        back = self._back_view
        cap = self.capacity
        while seq >= tail:
            out.append(seq)
            d = back[seq % cap]
            if d == NO_LINK:
                break
            seq -= d
        return out

    def nbytes(self) -> int:
        """The hash table, its keys and values, and the link column."""
        keys = sum(sys.getsizeof(k) for k in self.newest)
        vals = sum(sys.getsizeof(v) for v in self.newest.values())
        return sys.getsizeof(self.newest) + keys + vals + self.back.nbytes

    def _check(self, tail: int, head: int) -> None:
        for key, seq in self.newest.items():
            assert tail <= seq < head, f"index points at dead row {seq} for {key!r}"
