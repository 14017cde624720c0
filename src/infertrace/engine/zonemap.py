"""Per-chunk min/max of a time column, to skip chunks a time window cannot hit.

The ring is cut into fixed chunks of slots. Each chunk keeps a lower and an
upper bound of the values in it. While a chunk is being overwritten it holds
old and new rows, so bounds only widen; when a write fills the chunk's last
slot, every row in it is new and the bounds are recomputed exactly. Bounds are
therefore always safe to prune with (a chunk may be scanned needlessly, never
skipped wrongly).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
EMPTY_LO = np.iinfo(np.int64).max
EMPTY_HI = np.iinfo(np.int64).min


class ZoneMap:
    """Bounds per chunk of ``chunk`` slots over a ring of ``capacity`` slots."""

    def __init__(self, capacity: int, chunk: int = 65_536) -> None:
        self.chunk = chunk
        n = -(-capacity // chunk)
        self.lo = np.full(n, EMPTY_LO, dtype=np.int64)
        self.hi = np.full(n, EMPTY_HI, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.lo)

    def update(self, slot_start: int, values: I64, column: I64) -> None:
        """Account for ``values`` just written to ``column`` at ``slot_start, ...`` (no wrap)."""
        c = self.chunk
        pos = 0
        n = len(values)
        while pos < n:
            slot = slot_start + pos
            k = slot // c
            chunk_end = min((k + 1) * c, len(column))
            end = min(n, pos + chunk_end - slot)
            if slot_start + end == chunk_end:  # chunk now fully rewritten: exact bounds
                whole = column[k * c : chunk_end]
                self.lo[k], self.hi[k] = int(whole.min()), int(whole.max())
            else:
                part = values[pos:end]
                self.lo[k] = min(int(self.lo[k]), int(part.min()))
                self.hi[k] = max(int(self.hi[k]), int(part.max()))
            pos = end

    def chunks(self, lo: int, hi: int) -> npt.NDArray[np.intp]:
        """Chunks whose bounds overlap the half-open window [lo, hi)."""
        return np.flatnonzero((self.hi >= lo) & (self.lo < hi))

    def nbytes(self) -> int:
        return self.lo.nbytes + self.hi.nbytes
