"""The secondary indexes of an :class:`~infertrace.engine.indexed.IndexedTable`.

Each index maps the key a row gives it (one column's value, or a tuple of
several for a composite index) to primary keys:

- :class:`UniqueIndex`: key -> the one primary key; O(1).
- :class:`HashIndex`: key -> the primary keys that share it, as a list kept
  sorted (a bare key for a one-row bucket), so a bucket is already in the
  table's stable order and a page of it is a slice; lookup O(1), add and remove
  O(log k + k) memmove for a bucket of k.
- :class:`RangeIndex`: a :class:`SortedPairs` of (key, primary key), for
  ``low <= key < high`` ranges; O(log n + k).

A row whose key is None is left out of the index (as SQL leaves NULL out of a
UNIQUE constraint): an optional column (a change's commit) would otherwise put
most rows in one bucket, and every insert would move that bucket's tail; a
query for None scans. A composite key is a tuple, never None, so it always
counts. Indexes are not thread-safe: the table's owner guards them.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise
from typing import Any, Literal

from infertrace.engine.sortedpairs import SortedPairs

KeyOf = Callable[[Any], Any]
"""Reads an index's key from a row."""

Kind = Literal["unique", "hash", "range"]
_NONE = object()
"""Marks an absent bucket (None is a valid key and a valid primary key is never this)."""


class UniqueIndex:
    """Key -> primary key; at most one row per key."""

    kind: Kind = "unique"
    __slots__ = ("columns", "entries", "key_of", "name")

    def __init__(self, name: str, columns: tuple[str, ...], key_of: KeyOf) -> None:
        self.name = name
        self.columns = columns
        self.key_of = key_of
        self.entries: dict[Any, Any] = {}

    def add(self, key: Any, pk: Any) -> None:
        if key is not None:
            self.entries[key] = pk

    def remove(self, key: Any, pk: Any) -> None:
        if key is not None:
            del self.entries[key]

    def add_many(self, keys: list[Any], pks: list[Any]) -> None:
        entries = self.entries
        for key, pk in zip(keys, pks, strict=True):
            if key is not None:
                entries[key] = pk

    def owner(self, key: Any) -> Any:
        """The primary key holding ``key``, or None. O(1)."""
        return self.entries.get(key)

    def size(self, key: Any) -> int:
        return 1 if key in self.entries else 0

    def lookup(self, key: Any) -> list[Any]:
        pk = self.entries.get(key)
        return [] if pk is None else [pk]

    def pairs(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.entries.items())

    def clear(self) -> None:
        self.entries.clear()

    def nbytes(self) -> int:
        """The hash table (keys and primary keys are the rows' own objects)."""
        return sys.getsizeof(self.entries) + _tuple_keys_bytes(self.entries)

    def _check(self) -> None:
        assert None not in self.entries


class HashIndex:
    """Key -> the primary keys sharing it: a bare primary key when it is the only one
    (a one-row bucket, common in composite indexes, costs no list), else a sorted
    list of two or more."""

    kind: Kind = "hash"
    __slots__ = ("columns", "entries", "key_of", "name")

    def __init__(self, name: str, columns: tuple[str, ...], key_of: KeyOf) -> None:
        self.name = name
        self.columns = columns
        self.key_of = key_of
        self.entries: dict[Any, Any] = {}

    def add(self, key: Any, pk: Any) -> None:
        if key is None:
            return
        entries = self.entries
        bucket = entries.get(key, _NONE)
        if bucket is _NONE:
            entries[key] = pk
        elif type(bucket) is not list:
            entries[key] = [bucket, pk] if bucket < pk else [pk, bucket]
        elif pk > bucket[-1]:
            bucket.append(pk)
        else:
            insort(bucket, pk)

    def remove(self, key: Any, pk: Any) -> None:
        if key is None:
            return
        entries = self.entries
        bucket = entries[key]
        if type(bucket) is not list:
            if bucket != pk:
                raise KeyError((key, pk))
            del entries[key]
            return
        i = bisect_left(bucket, pk)
        if i == len(bucket) or bucket[i] != pk:
            raise KeyError((key, pk))
        del bucket[i]
        if len(bucket) == 1:
            entries[key] = bucket[0]

    def add_many(self, keys: list[Any], pks: list[Any]) -> None:
        """Add the pairs ``zip(keys, pks)`` (the loop of :meth:`add`, inlined); into an
        empty index (a restore, a rebuild), group first and sort each bucket once."""
        entries = self.entries
        if not entries:
            self._load(keys, pks)
            return
        get = entries.get
        for key, pk in zip(keys, pks, strict=True):
            bucket = get(key, _NONE)
            if bucket is _NONE:
                if key is not None:
                    entries[key] = pk
            elif type(bucket) is list:
                if pk > bucket[-1]:
                    bucket.append(pk)
                else:
                    insort(bucket, pk)
            else:
                entries[key] = [bucket, pk] if bucket < pk else [pk, bucket]

    def _load(self, keys: list[Any], pks: list[Any]) -> None:
        grouped: dict[Any, list[Any]] = {}
        get = grouped.get
        for key, pk in zip(keys, pks, strict=True):
            group = get(key)
            if group is None:
                grouped[key] = [pk]
            else:
                group.append(pk)
        grouped.pop(None, None)
        for key, group in grouped.items():
            if len(group) == 1:
                grouped[key] = group[0]
            else:
                group.sort()
        self.entries = grouped

    def size(self, key: Any) -> int:
        bucket = self.entries.get(key, _NONE)
        if bucket is _NONE:
            return 0
        return len(bucket) if type(bucket) is list else 1

    def lookup(self, key: Any) -> list[Any]:
        """The bucket of ``key`` as a list, sorted (do not change it). O(1)."""
        bucket = self.entries.get(key, _NONE)
        if bucket is _NONE:
            return []
        return bucket if type(bucket) is list else [bucket]

    def pairs(self) -> Iterator[tuple[Any, Any]]:
        for key in self.entries:
            for pk in self.lookup(key):
                yield key, pk

    def clear(self) -> None:
        self.entries.clear()

    def nbytes(self) -> int:
        """The hash table and its bucket lists."""
        lists = sum(sys.getsizeof(b) for b in self.entries.values() if type(b) is list)
        return sys.getsizeof(self.entries) + lists + _tuple_keys_bytes(self.entries)

    def _check(self) -> None:
        for key, bucket in self.entries.items():
            if type(bucket) is list:
                assert len(bucket) > 1, f"a list bucket of {len(bucket)} for {key!r}"
                assert all(a < b for a, b in pairwise(bucket)), f"bucket {key!r} unsorted"


class RangeIndex:
    """Sorted (key, primary key) pairs of one column, for ranges and ordering."""

    kind: Kind = "range"
    __slots__ = ("columns", "key_of", "name", "pairs_")

    def __init__(self, name: str, columns: tuple[str, ...], key_of: KeyOf) -> None:
        self.name = name
        self.columns = columns
        self.key_of = key_of
        self.pairs_ = SortedPairs()

    def add(self, key: Any, pk: Any) -> None:
        if key is not None:
            self.pairs_.add(key, pk)

    def remove(self, key: Any, pk: Any) -> None:
        if key is not None:
            self.pairs_.remove(key, pk)

    def add_many(self, keys: list[Any], pks: list[Any]) -> None:
        if None in keys:
            kept = [(k, p) for k, p in zip(keys, pks, strict=True) if k is not None]
            keys, pks = [k for k, _ in kept], [p for _, p in kept]
        self.pairs_.update(keys, pks)

    def count(self, low: Any, high: Any, stop: int | None = None) -> int:
        return self.pairs_.count(low, high, stop)

    def scan(self, low: Any, high: Any, reverse: bool = False, skip: int = 0) -> Iterator[Any]:
        return self.pairs_.pks(low, high, reverse, skip)

    def pairs(self) -> Iterator[tuple[Any, Any]]:
        return iter(self.pairs_)

    def clear(self) -> None:
        self.pairs_ = SortedPairs()

    def nbytes(self) -> int:
        return self.pairs_.nbytes()

    def _check(self) -> None:
        self.pairs_._check()


Index = UniqueIndex | HashIndex | RangeIndex


def build(kind: Kind, name: str, columns: tuple[str, ...], key_of: KeyOf) -> Index:
    """An empty index of ``kind``."""
    if kind == "unique":
        return UniqueIndex(name, columns, key_of)
    if kind == "hash":
        return HashIndex(name, columns, key_of)
    return RangeIndex(name, columns, key_of)


def _tuple_keys_bytes(entries: Iterable[Any]) -> int:
    """The composite keys' tuples, which the index owns (their items are the rows')."""
    total = 0
    for key in entries:
        if type(key) is not tuple:
            return 0  # one kind of key per index: the first says which
        total += sys.getsizeof(key)
    return total
