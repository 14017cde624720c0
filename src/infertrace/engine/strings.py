"""A reference-counted dictionary of hashable values (strings, mostly).

Columns store small integer codes instead of Python objects. Each code counts
the live rows that use it; when the count drops to zero the value leaves the
dictionary and its code is reused, so the dictionary can never outgrow the
data (seed 001's leak cannot happen here).
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterable
from itertools import repeat
from operator import is_

import numpy as np
import numpy.typing as npt

Codes = npt.NDArray[np.int32]


class ValueDict:
    """Hashable value <-> int32 code, with a live-row count per code.

    ``codes()`` creates entries with a count of zero; ``retain()`` and
    ``release()`` move counts in bulk. Not thread-safe: the owning table's lock
    guards it.
    """

    def __init__(self) -> None:
        self._code: dict[Hashable, int] = {}
        self.values: list[Hashable] = []
        self._refs = np.zeros(64, dtype=np.int64)
        self._free: list[int] = []
        self._bytes = 0

    @classmethod
    def from_values(
        cls,
        values: Iterable[Hashable | None],
        refs: npt.NDArray[np.integer] | None = None,
        ranks: npt.NDArray[np.integer] | None = None,
    ) -> ValueDict:
        """A dictionary holding ``values`` at their codes (None: a free code). With
        ``refs`` (one count per code) the counts are set; without, they start at zero
        and the caller retains the codes its rows use. ``ranks`` (see :meth:`ranks`)
        restores the order of the lookup table and of the free list, so that later
        codes are handed out exactly as the original would have. O(n), C-level loops."""
        d = cls()
        d.values = list(values)
        n = len(d.values)
        is_free = np.fromiter(map(is_, d.values, repeat(None)), np.bool_, n)
        live, free = np.flatnonzero(~is_free), np.flatnonzero(is_free)
        if ranks is not None:
            if len(ranks) != n:
                raise ValueError(f"{len(ranks)} ranks for {n} codes")
            r = np.asarray(ranks, dtype=np.int64)
            live = live[np.argsort(r[live], kind="stable")]
            free = free[np.argsort(r[free], kind="stable")]
        codes = live.tolist()
        values_of = d.values
        d._code = dict(zip([values_of[c] for c in codes], codes, strict=True))
        if len(d._code) != len(live):
            raise ValueError("a dictionary's values must be distinct")
        d._free = free.tolist()
        d._bytes = sum(map(sys.getsizeof, d._code))
        d._refs = np.zeros(max(64, n), dtype=np.int64)
        if refs is not None:
            if len(refs) != n:
                raise ValueError(f"{len(refs)} counts for {n} codes")
            d._refs[:n] = refs
        return d

    def ranks(self) -> npt.NDArray[np.int64]:
        """Per code, its position in the lookup table's order (live codes) or in the
        free list (free codes): what :meth:`from_values` needs to hand out codes as
        this dictionary would. O(n)."""
        out = np.zeros(len(self.values), dtype=np.int64)
        out[np.fromiter(self._code.values(), np.int64, len(self._code))] = np.arange(
            len(self._code), dtype=np.int64
        )
        out[np.array(self._free, dtype=np.int64)] = np.arange(len(self._free), dtype=np.int64)
        return out

    def refcounts(self) -> npt.NDArray[np.int64]:
        """The live-row count of every code, as a copy. O(n)."""
        return self._refs[: len(self.values)].copy()

    def __len__(self) -> int:
        return len(self._code)

    def __contains__(self, value: Hashable) -> bool:
        return value in self._code

    def get(self, value: Hashable) -> int | None:
        """The code of ``value``, or None if no live row uses it. O(1)."""
        return self._code.get(value)

    def codes(self, values: Iterable[Hashable]) -> list[int]:
        """Codes for ``values``, adding unseen ones (count 0 until retained). O(n)."""
        values = values if isinstance(values, list | tuple) else list(values)
        out: list[int | None] = list(map(self._code.get, values))
        if None in out:  # only unseen values take the slow path
            for i, c in enumerate(out):
                if c is None:
                    out[i] = self.code(values[i])
        return out  # type: ignore[return-value]

    def codes_or_none(self, values: list[Hashable] | tuple[Hashable, ...]) -> list[int]:
        """Like codes(), but None maps to -1 (an absent optional value)."""
        out: list[int | None] = list(map(self._code.get, values))
        if None in out:
            out = [
                (-1 if v is None else self.code(v)) if c is None else c
                for c, v in zip(out, values, strict=True)
            ]
        return out  # type: ignore[return-value]

    def code(self, value: Hashable) -> int:
        c = self._code.get(value)
        return self._add(value) if c is None else c

    def _add(self, value: Hashable) -> int:
        if self._free:
            c = self._free.pop()
            self.values[c] = value
        else:
            c = len(self.values)
            self.values.append(value)
            if c >= len(self._refs):
                self._refs = np.concatenate([self._refs, np.zeros(len(self._refs), np.int64)])
        self._code[value] = c
        self._bytes += sys.getsizeof(value)
        return c

    def retain(self, codes: npt.NDArray[np.integer]) -> None:
        """Count one more live row for each code in ``codes``. O(n log n)."""
        if len(codes) > 64:  # bincount: one pass, far faster than add.at on many rows
            counts = np.bincount(codes, minlength=0)
            self._refs[: len(counts)] += counts
        elif len(codes):
            np.add.at(self._refs, codes, 1)

    def release(self, codes: npt.NDArray[np.integer]) -> None:
        """Count one row less for each code; drop values no row uses any more."""
        if not len(codes):
            return
        refs = self._refs
        np.add.at(refs, codes, -1)
        gone = codes[refs[codes] == 0]
        if not len(gone):
            return
        for c in set(gone.tolist()):
            v = self.values[c]
            del self._code[v]
            self._bytes -= sys.getsizeof(v)
            self.values[c] = None
            self._free.append(c)

    def drop_unused(self, codes: Iterable[int]) -> None:
        """Remove entries that ``codes()`` made but no row retained (a rejected batch)."""
        for c in set(codes):
            if self._refs[c] == 0 and self.values[c] is not None:
                v = self.values[c]
                del self._code[v]
                self._bytes -= sys.getsizeof(v)
                self.values[c] = None
                self._free.append(c)

    def refcount(self, code: int) -> int:
        return int(self._refs[code])

    def live_codes(self) -> list[int]:
        return list(self._code.values())

    def nbytes(self) -> int:
        """Bytes held: the values, the hash table, the reverse list and the counts."""
        return (
            self._bytes
            + sys.getsizeof(self._code)
            + sys.getsizeof(self.values)
            + self._refs.nbytes
            + sys.getsizeof(self._free)
        )

    def _check(self) -> None:
        assert len(self._code) + len(self._free) == len(self.values)
        for v, c in self._code.items():
            assert self.values[c] == v or self.values[c] is v, (v, c)
            assert self._refs[c] > 0, f"code {c} ({v!r}) is in the dictionary with no live row"
        for c in self._free:
            assert self._refs[c] == 0 and self.values[c] is None
