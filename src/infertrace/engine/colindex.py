"""The indexes of a :class:`~infertrace.engine.columnar.ColumnTable`, over row numbers.

Rows are never changed in place (an update writes a new row and retires the
old one), so an index entry is either right or points at a retired row, which
the ``live`` mask filters out. Each index reads its key from the table's
columns as an int64 (a str column's code; an int column's value; two columns
packed as ``first << 32 | second``, each of which must fit 32 bits):

- :class:`UniqueIndex`: key -> the live row holding it. A str column's codes
  index a NumPy array (4 bytes a row on top of the dictionary); other columns a
  dict. O(1).
- :class:`SortedIndex` (``hash`` or ``range``): the keys of rows ``[0, built)``
  sorted (ties by row number) beside their rows, plus the *tail*, rows
  ``[built, n)`` appended since, which a lookup scans vectorised. When the tail
  passes an eighth of the rows it is sorted and merged in (a stable sort of two
  sorted runs, O(n)), so appends cost amortised O(1) NumPy work and a lookup
  O(log n + tail / 8 vectorised + k). A hash index leaves out rows whose key is
  NULL (as SQL leaves NULL out of an index); a query for None scans.

Not thread-safe: the table's owner guards them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from infertrace.engine.coldata import NULL, Array, Column

IndexKind = Literal["unique", "hash", "range"]
MIN_TAIL = 4096
"""A tail this short is never merged: scanning it costs microseconds."""
_LOW32 = 0xFFFFFFFF


class _Keyed:
    """What every index shares: its columns and how it reads keys from them."""

    kind: IndexKind
    __slots__ = ("columns", "name", "sources")

    def __init__(self, name: str, columns: tuple[str, ...], sources: Sequence[Column]) -> None:
        self.name = name
        self.columns = columns
        self.sources = tuple(sources)
        if len(sources) > 2:
            raise ValueError(
                f"index {name!r}: a composite index has two columns, not {len(sources)}"
            )

    def keys(self, start: int, stop: int) -> Array:
        """The int64 (or float64) keys of stored rows ``start..stop``."""
        return self.combine([s.data[start:stop] for s in self.sources])

    def combine(self, parts: Sequence[Array]) -> Array:
        """The keys of rows whose columns (encoded, in the index's order) are ``parts``."""
        first = parts[0]
        if len(parts) == 1:
            return first if first.dtype == np.float64 else first.astype(np.int64)
        second = parts[1].astype(np.int64)
        return (first.astype(np.int64) << 32) | (second & _LOW32)

    def key_of(self, value: Any) -> int | float | None:
        """The key a Python value (a tuple for a composite) has here, or None when no
        row can hold it."""
        parts = (value,) if len(self.sources) == 1 else value
        if type(parts) is not tuple or len(parts) != len(self.sources):
            return None
        encoded: list[Any] = []
        for column, part in zip(self.sources, parts, strict=True):
            kind = column.spec.kind
            if kind == "str":
                code = column.code_of(part)
                if code is None or (code == NULL and len(self.sources) == 1):
                    return None
                encoded.append(code)
            elif kind == "float":
                if type(part) not in (int, float):
                    return None
                encoded.append(float(part))
            else:
                want = bool if kind == "bool" else int
                if type(part) is not want:
                    return None
                encoded.append(int(part))
        if len(encoded) == 1:
            return encoded[0]  # type: ignore[no-any-return]
        a, b = encoded
        if not (-(2**31) <= a < 2**31 and -(2**31) <= b < 2**31):
            return None
        return int((a << 32) | (b & _LOW32))


class UniqueIndex(_Keyed):
    """Key -> its one live row."""

    kind: IndexKind = "unique"
    __slots__ = ("by_code", "by_value")

    def __init__(self, name: str, columns: tuple[str, ...], sources: Sequence[Column]) -> None:
        super().__init__(name, columns, sources)
        self.by_code: Array | None = None
        self.by_value: dict[Any, int] = {}
        if len(sources) == 1 and sources[0].spec.kind == "str":
            self.by_code = np.full(16, -1, dtype=np.int64)

    def owners(self, keys: Array) -> Array:
        """The row holding each key (-1: none; NULL keys hold nothing). O(m)."""
        if self.by_code is not None:
            out = np.full(len(keys), -1, dtype=np.int64)
            ok = (keys >= 0) & (keys < len(self.by_code))
            out[ok] = self.by_code[keys[ok]]
            return out
        get = self.by_value.get
        return np.fromiter((get(k, -1) for k in keys.tolist()), np.int64, len(keys))

    def owner(self, key: int | float | None) -> int:
        if key is None:
            return -1
        if self.by_code is not None:
            code = int(key)
            return int(self.by_code[code]) if 0 <= code < len(self.by_code) else -1
        return self.by_value.get(key, -1)

    def claim(self, keys: Array, rows: Array) -> None:
        if self.by_code is not None:
            keep = keys >= 0
            keys, rows = keys[keep], rows[keep]
            need = int(keys.max()) + 1 if len(keys) else 0
            if need > len(self.by_code):
                grown = np.full(max(need, 2 * len(self.by_code)), -1, dtype=np.int64)
                grown[: len(self.by_code)] = self.by_code
                self.by_code = grown
            self.by_code[keys] = rows
        else:
            self.by_value.update(zip(keys.tolist(), rows.tolist(), strict=True))

    def release(self, key: int | float, row: int) -> None:
        if self.by_code is not None:
            code = int(key)
            if code >= 0 and self.by_code[code] == row:
                self.by_code[code] = -1
        elif self.by_value.get(key) == row:
            del self.by_value[key]

    def release_many(self, keys: Array, rows: Array) -> None:
        """:meth:`release` of many keys at once (vectorised for codes). O(m)."""
        if self.by_code is None:
            for key, row in zip(keys.tolist(), rows.tolist(), strict=True):
                self.release(key, row)
            return
        ok = (keys >= 0) & (keys < len(self.by_code))
        keys, rows = keys[ok], rows[ok]
        mine = self.by_code[keys] == rows
        self.by_code[keys[mine]] = -1

    def size(self, value: Any) -> int:
        return 1 if self.owner(self.key_of(value)) >= 0 else 0

    def lookup(self, value: Any, live: Array, n: int) -> Array:
        row = self.owner(self.key_of(value))
        return np.array([row] if row >= 0 else [], dtype=np.int64)

    def rebuild(self, n: int, live: Array) -> None:
        rows = np.flatnonzero(live[:n])
        self.by_value = {}
        if self.by_code is not None:
            self.by_code = np.full(max(16, len(self.sources[0].values)), -1, dtype=np.int64)
        self.claim(self.keys(0, n)[rows], rows)

    def pairs(self) -> list[tuple[Any, int]]:
        """Every (key, row) entry."""
        if self.by_code is not None:
            codes = np.flatnonzero(self.by_code >= 0)
            return list(zip(codes.tolist(), self.by_code[codes].tolist(), strict=True))
        return list(self.by_value.items())

    def nbytes(self) -> int:
        if self.by_code is not None:
            return int(self.by_code.nbytes)
        size = sys.getsizeof
        return size(self.by_value) + sum(size(k) + size(r) for k, r in self.by_value.items())


class SortedIndex(_Keyed):
    """Keys sorted beside their rows, plus an unsorted tail (see the module)."""

    __slots__ = ("built", "kind", "rows", "sorted_keys")

    def __init__(
        self, name: str, columns: tuple[str, ...], sources: Sequence[Column], kind: IndexKind
    ) -> None:
        super().__init__(name, columns, sources)
        self.kind = kind
        dtype = np.float64 if sources[0].spec.kind == "float" and len(sources) == 1 else np.int64
        self.sorted_keys: Array = np.zeros(0, dtype=dtype)
        self.rows: Array = np.zeros(0, dtype=np.int64)
        self.built = 0

    def _nullable(self) -> bool:
        return self.kind == "hash" and len(self.sources) == 1 and self.sources[0].spec.optional

    def after_append(self, n: int, live: Array) -> None:
        """Merge the tail once it passes an eighth of the rows. Amortised O(1) a row."""
        if n - self.built > max(MIN_TAIL, self.built // 8):
            self.merge(n, live)

    def merge(self, n: int, live: Array) -> None:
        """Sort the tail into the index and drop entries of retired rows. O(n)."""
        keep = live[self.rows]
        tail_keys, tail_rows = self._tail_entries(n, live)
        keys = np.concatenate([self.sorted_keys[keep], tail_keys])
        rows = np.concatenate([self.rows[keep], tail_rows])
        order = np.argsort(keys, kind="stable")
        self.sorted_keys, self.rows, self.built = keys[order], rows[order], n

    def order(self, n: int, live: Array) -> Array:
        """Every live entry's row in index order, the tail sorted in, without changing
        the index (readers may share it). O(n)."""
        keep = live[self.rows]
        keys, rows = self._tail_entries(n, live)
        keys = np.concatenate([self.sorted_keys[keep], keys])
        rows = np.concatenate([self.rows[keep], rows])
        ordered: Array = rows[np.argsort(keys, kind="stable")]
        return ordered

    def _tail_entries(self, n: int, live: Array) -> tuple[Array, Array]:
        keys = self.keys(self.built, n)
        alive = live[self.built : n]
        if self._nullable():
            alive = alive & (keys != NULL)
        return keys[alive], np.arange(self.built, n, dtype=np.int64)[alive]

    def install(self, n: int, order: Array) -> None:
        """Take ``order`` (what :meth:`order` gave for these rows, all live) as the
        sorted part; ValueError unless it is exactly that. O(n)."""
        keys = self.keys(0, n)
        expected = int(np.count_nonzero(keys != NULL)) if self._nullable() else n
        if len(order) != expected or (len(order) and (order.min() < 0 or order.max() >= n)):
            raise ValueError(f"index {self.name}: an order of {len(order)} rows, not {expected}")
        order = order.astype(np.int64)
        ordered = keys[order]
        step_up = ordered[1:] > ordered[:-1]
        tie_up = (ordered[1:] == ordered[:-1]) & (order[1:] > order[:-1])
        if not bool(np.all(step_up | tie_up)) or (
            len(order) and int(np.bincount(order, minlength=n).max()) > 1
        ):
            raise ValueError(f"index {self.name}: the stored order does not sort the rows")
        self.sorted_keys, self.rows, self.built = ordered, order, n

    def rebuild(self, n: int, live: Array) -> None:
        self.sorted_keys = self.sorted_keys[:0]
        self.rows = self.rows[:0]
        self.built = 0
        self.merge(n, live)

    def _tail(self, n: int, test: Callable[[Array], Array]) -> Array:
        if n <= self.built:
            return np.zeros(0, dtype=np.int64)
        return self.built + np.flatnonzero(test(self.keys(self.built, n)))

    def size(self, value: Any, n: int | None = None) -> int:
        """Entries under ``value`` (retired rows included: an estimate for the planner)."""
        key = self.key_of(value)
        if key is None:
            return 0
        lo = np.searchsorted(self.sorted_keys, key, "left")
        hi = np.searchsorted(self.sorted_keys, key, "right")
        tail = self._tail(self.sources[0].size if n is None else n, lambda k: k == key)
        return int(hi - lo) + len(tail)

    def lookup(self, value: Any, live: Array, n: int) -> Array:
        """Live rows whose key is ``value``, by row number. O(log n + tail + k)."""
        key = self.key_of(value)
        if key is None:
            return np.zeros(0, dtype=np.int64)
        lo = np.searchsorted(self.sorted_keys, key, "left")
        hi = np.searchsorted(self.sorted_keys, key, "right")
        # a key's entries are in row order (a stable sort of runs in row order)
        rows = np.concatenate([self.rows[lo:hi], self._tail(n, lambda k: k == key)])
        found: Array = rows[live[rows]]
        return found

    def lookup_many(self, values: Sequence[Any], live: Array, n: int) -> Array:
        """Live rows whose key is any of ``values``, in no particular order: one
        vectorised search of the sorted part and one pass over the tail.
        O(m log n + tail + k)."""
        keys = [k for k in map(self.key_of, values) if k is not None]
        if not keys:
            return np.zeros(0, dtype=np.int64)
        wanted = np.unique(np.array(keys, dtype=self.sorted_keys.dtype))
        lows = np.searchsorted(self.sorted_keys, wanted, "left")
        highs = np.searchsorted(self.sorted_keys, wanted, "right")
        parts = [self.rows[lo:hi] for lo, hi in zip(lows.tolist(), highs.tolist(), strict=True)]
        parts.append(self._tail(n, lambda k: np.isin(k, wanted)))
        rows = np.concatenate(parts)
        found: Array = rows[live[rows]]
        return found

    def count(self, low: Any, high: Any, stop: int | None = None) -> int:
        """Entries with ``low <= key < high`` (an estimate for the planner). O(log n + tail)."""
        if not _comparable(low) or not _comparable(high):
            return 0
        lo, hi, tail = self._range(low, high, self.sources[0].size)
        return hi - lo + len(tail)

    def _range(self, low: Any, high: Any, n: int) -> tuple[int, int, Array]:
        keys = self.sorted_keys
        lo = 0 if low is None else int(np.searchsorted(keys, low, "left"))
        hi = len(keys) if high is None else int(np.searchsorted(keys, high, "left"))
        hi = max(lo, hi)

        def test(k: Array) -> Array:
            ok = np.ones(len(k), dtype=bool)
            if low is not None:
                ok &= k >= low
            if high is not None:
                ok &= k < high
            return ok

        return lo, hi, self._tail(n, test)

    def scan(self, low: Any, high: Any, live: Array, n: int) -> Array:
        """Live rows with ``low <= key < high``, by key then row number. O(log n + tail + k)."""
        if not _comparable(low) or not _comparable(high):
            return np.zeros(0, dtype=np.int64)
        lo, hi, tail = self._range(low, high, n)
        rows = self.rows[lo:hi]
        if len(tail):
            keys = np.concatenate(
                [self.sorted_keys[lo:hi], self.keys(self.built, n)[tail - self.built]]
            )
            rows = np.concatenate([rows, tail])[np.argsort(keys, kind="stable")]
        found: Array = rows[live[rows]]
        return found

    def pairs(self, n: int, live: Array) -> list[tuple[Any, int]]:
        """Every live (key, row) entry, the tail included."""
        keep = live[self.rows]
        out = list(zip(self.sorted_keys[keep].tolist(), self.rows[keep].tolist(), strict=True))
        tail = np.arange(self.built, n)
        keys = self.keys(self.built, n)
        alive = live[self.built : n]
        if self._nullable():
            alive = alive & (keys != NULL)
        out += zip(keys[alive].tolist(), tail[alive].tolist(), strict=True)
        return out

    def nbytes(self) -> int:
        return int(self.sorted_keys.nbytes + self.rows.nbytes)

    def _check(self, n: int) -> None:
        keys = self.sorted_keys
        assert len(keys) == len(self.rows) and self.built <= n
        assert bool(np.all(keys[:-1] <= keys[1:])), f"index {self.name} is not sorted"
        assert bool(np.all(self.rows < self.built)), f"index {self.name} holds a tail row"


def _comparable(bound: Any) -> bool:
    return bound is None or type(bound) in (int, float)


Index = UniqueIndex | SortedIndex
