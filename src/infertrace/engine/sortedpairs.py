"""Sorted ``(key, primary key)`` pairs in blocks: the storage of a range index.

Pairs are ordered by key, then by primary key, so equal keys (two commits in the
same nanosecond) still have one stable order. They live in blocks of at most
``2 * LOAD`` entries, each block two parallel sequences (keys, primary keys). A
sequence of each block's largest pair is bisected to find a block (the layout
sortedcontainers uses): insert and remove are O(log n + LOAD), a range of k
pairs is O(log n + k), and counting a range O(log n + blocks it spans).

While every key is an int that fits 64 bits (times in nanoseconds), key blocks
are ``array('q')``: a bisect then reads one contiguous buffer instead of chasing
a pointer to a separate int object per comparison, which at a million entries
was a cache miss each (measured: ~3 µs per bisect of a 768-key block, ~0.4 µs
on the array). The first other key turns every block into a list, for good.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

LOAD = 512
"""Blocks split past ``2 * LOAD`` entries; a block that empties is dropped."""

_LOW, _HIGH = -(2**63), 2**63


def _fits(keys: Iterable[Any]) -> bool:
    """Whether every key is an int an ``array('q')`` holds."""
    return all(type(k) is int and _LOW <= k < _HIGH for k in keys)


class SortedPairs:
    """``(key, pk)`` pairs kept sorted; keys and pks must each be mutually comparable.

    Not thread-safe: the owning table's lock guards it.
    """

    __slots__ = ("_keys", "_len", "_max_keys", "_max_pks", "_pks", "_typed")

    def __init__(self, pairs: Iterable[tuple[Any, Any]] = ()) -> None:
        self._typed = True
        self._keys: list[Any] = []
        self._pks: list[list[Any]] = []
        self._max_keys: Any = array("q")
        self._max_pks: list[Any] = []
        self._len = 0
        self._load(sorted(pairs))

    def __len__(self) -> int:
        return self._len

    def _seq(self, keys: Iterable[Any]) -> Any:
        return array("q", keys) if self._typed else list(keys)

    def _untype(self) -> None:
        """Hold keys in lists from now on (a key an array cannot hold arrived)."""
        self._typed = False
        self._keys = [list(b) for b in self._keys]
        self._max_keys = list(self._max_keys)

    def _load(self, ordered: list[tuple[Any, Any]]) -> None:
        """Replace the content with ``ordered`` (already sorted). O(n)."""
        if self._typed and not _fits(k for k, _ in ordered):
            self._untype()
        self._keys, self._pks = [], []
        self._max_keys, self._max_pks = self._seq(()), []
        for start in range(0, len(ordered), LOAD):
            chunk = ordered[start : start + LOAD]
            self._keys.append(self._seq(k for k, _ in chunk))
            self._pks.append([p for _, p in chunk])
            self._max_keys.append(chunk[-1][0])
            self._max_pks.append(chunk[-1][1])
        self._len = len(ordered)

    def _block_of(self, key: Any, pk: Any) -> int:
        """The first block whose largest pair is >= ``(key, pk)``, or the last block."""
        max_keys, max_pks = self._max_keys, self._max_pks
        i = bisect_left(max_keys, key)
        while i < len(max_keys) and max_keys[i] == key and max_pks[i] < pk:
            i += 1  # blocks ending in this key but a smaller pk: the pair goes after
        return i - 1 if i == len(max_keys) else i

    def _locate(self, key: Any, pk: Any) -> tuple[int, int]:
        """Block and offset where ``(key, pk)`` is or would go; block -1 if none exist."""
        if not self._pks:
            return -1, 0
        i = self._block_of(key, pk)
        keys = self._keys[i]
        j = bisect_right(keys, key)
        if j and keys[j - 1] == key:  # equal keys: order by primary key
            j = bisect_left(self._pks[i], pk, bisect_left(keys, key, 0, j), j)
        return i, j

    def add(self, key: Any, pk: Any) -> None:
        """Insert a pair (duplicates are the caller's to prevent). O(log n + LOAD)."""
        if self._typed and not _fits((key,)):
            self._untype()
        i, j = self._locate(key, pk)
        if i < 0:
            self._keys.append(self._seq((key,)))
            self._pks.append([pk])
            self._max_keys.append(key)
            self._max_pks.append(pk)
            self._len = 1
            return
        self._insert(i, j, key, pk)

    def _insert(self, i: int, j: int, key: Any, pk: Any) -> None:
        keys, pks = self._keys[i], self._pks[i]
        keys.insert(j, key)
        pks.insert(j, pk)
        self._len += 1
        if j == len(keys) - 1:
            self._max_keys[i] = key
            self._max_pks[i] = pk
        if len(keys) > 2 * LOAD:
            self._keys.insert(i + 1, keys[LOAD:])
            self._pks.insert(i + 1, pks[LOAD:])
            del keys[LOAD:], pks[LOAD:]
            self._max_keys.insert(i, keys[-1])
            self._max_pks.insert(i, pks[-1])

    def update(self, keys: list[Any], pks: list[Any]) -> None:
        """Insert the pairs ``zip(keys, pks)``: one by one, or by one sort when they
        outnumber the stored ones. O(m (log n + LOAD)) or O((n + m) log(n + m))."""
        if len(keys) > self._len:
            self._load(sorted([*self, *zip(keys, pks, strict=True)]))
            return
        if self._typed and not _fits(keys):
            self._untype()
        locate, insert = self._locate, self._insert
        for key, pk in zip(keys, pks, strict=True):
            if not self._pks:
                self.add(key, pk)
                continue
            i, j = locate(key, pk)
            insert(i, j, key, pk)

    def remove(self, key: Any, pk: Any) -> None:
        """Remove a pair; KeyError naming it if absent. O(log n + LOAD)."""
        if self._typed and not _fits((key,)):
            raise KeyError((key, pk))
        i, j = self._locate(key, pk)
        if i < 0 or j >= len(self._keys[i]):
            raise KeyError((key, pk))
        keys, pks = self._keys[i], self._pks[i]
        if keys[j] != key or pks[j] != pk:
            raise KeyError((key, pk))
        del keys[j], pks[j]
        self._len -= 1
        if not pks:
            del self._keys[i], self._pks[i], self._max_keys[i], self._max_pks[i]
        elif j == len(pks):
            self._max_keys[i] = keys[-1]
            self._max_pks[i] = pks[-1]

    def _start(self, low: Any) -> tuple[int, int]:
        """Position of the first pair with key >= ``low`` (None: the first pair)."""
        if low is None:
            return 0, 0
        i = bisect_left(self._max_keys, low)
        if i == len(self._max_keys):
            return i, 0
        return i, bisect_left(self._keys[i], low)

    def pks(
        self, low: Any = None, high: Any = None, reverse: bool = False, skip: int = 0
    ) -> Iterator[Any]:
        """Primary keys of pairs with ``low <= key < high`` (None: unbounded), by key then
        pk, or the reverse, after the first ``skip``. O(log n + skip / LOAD) to start
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
        """The blocks (key arrays hold the keys themselves; pk lists point at the
        rows' objects) and the maxima."""
        size = sys.getsizeof
        blocks = sum(size(k) + size(p) for k, p in zip(self._keys, self._pks, strict=True))
        outer = size(self._keys) + size(self._pks) + size(self._max_keys) + size(self._max_pks)
        return blocks + outer

    def _check(self) -> None:
        assert len(self._keys) == len(self._pks) == len(self._max_keys) == len(self._max_pks)
        total = 0
        previous: tuple[Any, Any] | None = None
        for b, (keys, pks) in enumerate(zip(self._keys, self._pks, strict=True)):
            assert isinstance(keys, array) == self._typed, (type(keys), self._typed)
            assert keys and len(keys) == len(pks) <= 2 * LOAD, (len(keys), len(pks))
            assert (self._max_keys[b], self._max_pks[b]) == (keys[-1], pks[-1]), b
            for pair in zip(keys, pks, strict=True):
                assert previous is None or previous < pair, (previous, pair)
                previous = pair
            total += len(keys)
        assert total == self._len, (total, self._len)
