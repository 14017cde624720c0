"""Sorted ``(key, primary key)`` pairs in blocks: the storage of a range index.

Pairs are ordered by key, then by primary key, so equal keys (two commits in the
same nanosecond) still have one stable order. They live in blocks of at most
``2 * load`` entries, each block two parallel lists (keys, primary keys) that
reference the row's own objects, so an entry costs two pointers. A list of block
maxima is bisected to find a block (the layout sortedcontainers uses): insert
and remove are O(log n + load), a range of k pairs is O(log n + k), and
counting a range costs O(log n + blocks it spans).
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

LOAD = 512
"""Blocks split past ``2 * LOAD`` entries; a block that empties is dropped."""


class SortedPairs:
    """``(key, pk)`` pairs kept sorted; keys and pks must each be mutually comparable.

    Not thread-safe: the owning table's lock guards it.
    """

    __slots__ = ("_keys", "_len", "_maxes", "_pks")

    def __init__(self, pairs: Iterable[tuple[Any, Any]] = ()) -> None:
        self._keys: list[list[Any]] = []
        self._pks: list[list[Any]] = []
        self._maxes: list[tuple[Any, Any]] = []
        self._len = 0
        self._load(sorted(pairs))

    def __len__(self) -> int:
        return self._len

    def _load(self, ordered: list[tuple[Any, Any]]) -> None:
        """Replace the content with ``ordered`` (already sorted). O(n)."""
        self._keys, self._pks, self._maxes = [], [], []
        for start in range(0, len(ordered), LOAD):
            chunk = ordered[start : start + LOAD]
            self._keys.append([k for k, _ in chunk])
            self._pks.append([p for _, p in chunk])
            self._maxes.append(chunk[-1])
        self._len = len(ordered)

    def _locate(self, key: Any, pk: Any) -> tuple[int, int]:
        """Block and offset where ``(key, pk)`` is or would go; block -1 if none exist."""
        maxes = self._maxes
        if not maxes:
            return -1, 0
        i = bisect_left(maxes, (key, pk))
        if i == len(maxes):
            i -= 1
        keys = self._keys[i]
        lo = bisect_left(keys, key)
        hi = bisect_right(keys, key, lo)
        return i, bisect_left(self._pks[i], pk, lo, hi)

    def add(self, key: Any, pk: Any) -> None:
        """Insert a pair (duplicates are the caller's to prevent). O(log n + load)."""
        i, j = self._locate(key, pk)
        if i < 0:
            self._keys.append([key])
            self._pks.append([pk])
            self._maxes.append((key, pk))
            self._len = 1
            return
        keys, pks = self._keys[i], self._pks[i]
        keys.insert(j, key)
        pks.insert(j, pk)
        self._len += 1
        if j == len(keys) - 1:
            self._maxes[i] = (key, pk)
        if len(keys) > 2 * LOAD:
            self._split(i)

    def _split(self, i: int) -> None:
        keys, pks = self._keys[i], self._pks[i]
        self._keys[i + 1 : i + 1] = [keys[LOAD:]]
        self._pks[i + 1 : i + 1] = [pks[LOAD:]]
        del keys[LOAD:], pks[LOAD:]
        self._maxes[i : i + 1] = [(keys[-1], pks[-1]), self._maxes[i]]

    def update(self, keys: list[Any], pks: list[Any]) -> None:
        """Insert the pairs ``zip(keys, pks)``: one by one (the loop of :meth:`add`,
        inlined), or by one sort when they outnumber the stored ones.
        O(m (log n + load)) or O((n + m) log(n + m))."""
        if len(keys) > self._len:
            self._load(sorted([*self, *zip(keys, pks, strict=True)]))
            return
        maxes, all_keys, all_pks = self._maxes, self._keys, self._pks
        for key, pk in zip(keys, pks, strict=True):
            if not maxes:
                self.add(key, pk)
                continue
            i = bisect_left(maxes, (key, pk))
            if i == len(maxes):
                i -= 1
            block_keys, block_pks = all_keys[i], all_pks[i]
            j = bisect_right(block_keys, key)
            if j and block_keys[j - 1] == key:  # equal keys: order by primary key
                j = bisect_left(block_pks, pk, bisect_left(block_keys, key, 0, j), j)
            block_keys.insert(j, key)
            block_pks.insert(j, pk)
            self._len += 1
            if j == len(block_keys) - 1:
                maxes[i] = (key, pk)
            if len(block_keys) > 2 * LOAD:
                self._split(i)

    def remove(self, key: Any, pk: Any) -> None:
        """Remove a pair; KeyError naming it if absent. O(log n + load)."""
        i, j = self._locate(key, pk)
        if i < 0 or j >= len(self._keys[i]):
            raise KeyError((key, pk))
        keys, pks = self._keys[i], self._pks[i]
        if keys[j] != key or pks[j] != pk:
            raise KeyError((key, pk))
        del keys[j], pks[j]
        self._len -= 1
        if not keys:
            del self._keys[i], self._pks[i], self._maxes[i]
        elif j == len(keys):
            self._maxes[i] = (keys[-1], pks[-1])

    def _start(self, low: Any) -> tuple[int, int]:
        """Position of the first pair with key >= ``low`` (None: the first pair)."""
        if low is None:
            return 0, 0
        i = bisect_left(self._maxes, (low,))
        if i == len(self._maxes):
            return i, 0
        return i, bisect_left(self._keys[i], low)

    def pks(
        self, low: Any = None, high: Any = None, reverse: bool = False, skip: int = 0
    ) -> Iterator[Any]:
        """Primary keys of pairs with ``low <= key < high`` (None: unbounded), by key then
        pk, or the reverse, after the first ``skip``. O(log n + skip / load) to start
        (whole blocks are skipped by length), O(1) per pair."""
        if reverse:
            yield from islice(self._pks_reversed(low, high), skip, None)
            return
        i, j = self._start(low)
        all_keys, all_pks = self._keys, self._pks
        while skip and i < len(all_keys):
            left = len(all_keys[i]) - j
            if skip < left:
                j += skip
                break
            skip -= left
            i, j = i + 1, 0
        while i < len(all_keys):
            keys, pks = all_keys[i], all_pks[i]
            if high is None or keys[-1] < high:
                yield from pks[j:] if j else pks
            else:
                yield from pks[j : bisect_left(keys, high, j)]
                return
            i, j = i + 1, 0

    def _pks_reversed(self, low: Any, high: Any) -> Iterator[Any]:
        start_i, start_j = self._start(low)
        end_i, end_j = self._start(high) if high is not None else (len(self._keys), 0)
        for b in range(min(end_i, len(self._keys) - 1), start_i - 1, -1):
            pks = self._pks[b]
            hi = end_j if b == end_i else len(pks)
            lo = start_j if b == start_i else 0
            yield from reversed(pks[lo:hi])

    def count(self, low: Any = None, high: Any = None, stop: int | None = None) -> int:
        """How many pairs have ``low <= key < high``. O(log n + blocks spanned); with
        ``stop``, counting ends once past it (the answer is then some number > stop),
        for a planner that only needs to know whether a range beats a bucket."""
        i, j = self._start(low)
        if high is None:
            end_i, end_j = len(self._keys), 0
        else:
            end_i, end_j = self._start(high)
        if (end_i, end_j) <= (i, j):
            return 0
        if i == end_i:
            return end_j - j
        keys = self._keys
        total = end_j - j
        for b in range(i, end_i):
            total += len(keys[b])
            if stop is not None and total > stop:
                break  # a partial sum never exceeds the whole
        return total

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        """Every pair, in order. O(n)."""
        for keys, pks in zip(self._keys, self._pks, strict=True):
            yield from zip(keys, pks, strict=True)

    def nbytes(self) -> int:
        """The block lists and maxima (the keys and pks themselves belong to the rows)."""
        size = sys.getsizeof
        lists = sum(size(k) + size(p) for k, p in zip(self._keys, self._pks, strict=True))
        maxes = sum(sys.getsizeof(m) for m in self._maxes)
        outer = sys.getsizeof(self._keys) + sys.getsizeof(self._pks)
        return lists + maxes + outer + sys.getsizeof(self._maxes)

    def _check(self) -> None:
        assert len(self._keys) == len(self._pks) == len(self._maxes)
        total = 0
        previous: tuple[Any, Any] | None = None
        for keys, pks, top in zip(self._keys, self._pks, self._maxes, strict=True):
            assert keys and len(keys) == len(pks) <= 2 * LOAD, (len(keys), len(pks))
            assert top == (keys[-1], pks[-1]), (top, keys[-1], pks[-1])
            for pair in zip(keys, pks, strict=True):
                assert previous is None or previous < pair, (previous, pair)
                previous = pair
            total += len(keys)
        assert total == self._len, (total, self._len)
