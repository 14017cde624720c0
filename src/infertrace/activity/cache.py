"""A small cache of aggregation results, each covering a range of days.

A write tells the cache which UTC days it touched (None: all of them, as a
developer's team or region change does); every entry whose range covers one of
them is dropped. A result computed while a write was landing must not be kept:
the caller reads :attr:`RangeCache.generation` before it computes, and
:meth:`RangeCache.put` keeps the result only if no write happened since.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

MISSING = object()
"""What :meth:`RangeCache.get` answers for a key it does not hold."""


class RangeCache:
    """Key -> (first day, last day, value), at most ``size`` entries, oldest dropped
    first. Thread-safe (one mutex; every operation is O(1) except invalidation,
    O(entries))."""

    def __init__(self, size: int = 256) -> None:
        if type(size) is not int or size < 1:
            raise ValueError(f"cache size {size!r} must be an int >= 1")
        self.size = size
        self._entries: dict[Hashable, tuple[int, int, Any]] = {}
        self._mutex = threading.Lock()
        self.generation = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        """The value under ``key``, or :data:`MISSING`."""
        with self._mutex:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return MISSING
            self.hits += 1
            return entry[2]

    def put(self, key: Hashable, first: int, last: int, value: Any, generation: int) -> None:
        """Keep ``value`` for days ``first..last`` unless a write came after
        ``generation`` (then it may be stale, and is dropped)."""
        with self._mutex:
            if generation != self.generation:
                return
            if len(self._entries) >= self.size and key not in self._entries:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (first, last, value)

    def invalidate(self, kind: object, days: frozenset[int] | None) -> None:
        """Drop entries covering any of ``days`` (all entries for None); a store
        listener, so it takes the store's ``(kind, days)``."""
        with self._mutex:
            self.generation += 1
            if days is None:
                self._entries.clear()
                return
            stale = [
                key
                for key, (first, last, _) in self._entries.items()
                if any(first <= day <= last for day in days)
            ]
            for key in stale:
                del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def _check(self) -> None:
        with self._mutex:
            assert len(self._entries) <= self.size
            assert all(first <= last for first, last, _ in self._entries.values())
