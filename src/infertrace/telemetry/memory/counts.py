"""Live-row counts per dictionary code (or pair of codes).

These answer ``services()``, ``operations(service)`` and ``models()`` without
a scan, and are kept exact on every append and eviction.
"""

from __future__ import annotations

import sys

import numpy as np
import numpy.typing as npt


def _tally(keys: npt.NDArray[np.int64]) -> tuple[list[int], list[int]]:
    """Distinct keys and their counts; bincount for small keys, sorting otherwise."""
    lo = int(keys.min())
    if lo >= 0 and int(keys.max()) < 65_536:
        counts = np.bincount(keys)
        u = np.flatnonzero(counts)
        return u.tolist(), counts[u].tolist()
    u, n = np.unique(keys, return_counts=True)
    return u.tolist(), n.tolist()


class LiveCounts:
    """int64 key -> number of live rows, updated in bulk."""

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.counts)

    def add(self, keys: npt.NDArray[np.int64]) -> None:
        if not len(keys):
            return
        c = self.counts
        for k, m in zip(*_tally(keys), strict=True):
            c[k] = c.get(k, 0) + m

    def remove(self, keys: npt.NDArray[np.int64]) -> None:
        if not len(keys):
            return
        c = self.counts
        for k, m in zip(*_tally(keys), strict=True):
            left = c[k] - m
            if left:
                c[k] = left
            else:
                del c[k]

    def keys(self) -> list[int]:
        return list(self.counts)

    def nbytes(self) -> int:
        return sys.getsizeof(self.counts) + sum(
            sys.getsizeof(k) + sys.getsizeof(v) for k, v in self.counts.items()
        )


def pair(a: npt.NDArray[np.int32], b: npt.NDArray[np.int32]) -> npt.NDArray[np.int64]:
    """One int64 key for two int32 codes."""
    return (a.astype(np.int64) << 32) | b.astype(np.int64)
