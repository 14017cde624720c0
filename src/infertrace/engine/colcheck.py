"""Invariant checks of a :class:`~infertrace.engine.columnar.ColumnTable`'s indexes.

:func:`drift` compares every index with what the live rows say it should hold
(its ``_check()`` and the activity store's consistency report use it);
:func:`repeats` finds a unique key held twice in a batch or a loaded state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from infertrace.engine.coldata import NULL, Array
from infertrace.engine.colindex import Index, SortedIndex, UniqueIndex

if TYPE_CHECKING:
    from infertrace.engine.columnar import ColumnTable


def drift(self: ColumnTable[Any]) -> list[str]:
    """How ``self``'s indexes disagree with its rows (missing, extra or wrong
    entries, a unique key held by two rows); [] when they agree. O(n log n)."""
    problems: list[str] = []
    live = self.live_rows()
    pks = self.columns[self.key]
    for index in self.indexes.values():
        keys = index.keys(0, self.n)[live]
        want_pairs = list(zip(keys.tolist(), live.tolist(), strict=True))
        if isinstance(index, SortedIndex):
            if index.kind == "hash" and len(index.columns) == 1 and index.sources[0].spec.optional:
                want_pairs = [(k, r) for k, r in want_pairs if k != NULL]
            have_pairs = index.pairs(self.n, self.live)
        else:
            if index.by_code is not None:
                want_pairs = [(k, r) for k, r in want_pairs if k != NULL]
            have_pairs = index.pairs()
        want: dict[Any, list[int]] = {}
        for k, r in want_pairs:
            want.setdefault(k, []).append(r)
        have: dict[Any, list[int]] = {}
        for k, r in have_pairs:
            have.setdefault(k, []).append(r)
        for key in want.keys() | have.keys():
            w, h = sorted(want.get(key, [])), sorted(have.get(key, []))
            value = _key_text(index, key)
            if isinstance(index, UniqueIndex) and len(w) > 1:
                held = [pks.value_at(r) for r in w]
                problems.append(f"unique {index.name} {value!r} is held by rows {held}")
                if len(h) == 1 and h[0] in w:
                    continue
            if w != h:
                rows_w = [pks.value_at(r) if r < self.n else r for r in w]
                rows_h = [pks.value_at(r) if 0 <= r < self.n else r for r in h]
                problems.append(f"index {index.name} {value!r}: rows {rows_w}, entries {rows_h}")
    return problems


def _key_text(index: Index, key: Any) -> Any:
    if len(index.sources) == 1 and index.sources[0].spec.kind == "str":
        values = index.sources[0].values
        return values[key] if 0 <= key < len(values) else key
    return key


def repeats(index: UniqueIndex, keys: Array) -> bool:
    """Whether ``keys`` (NULL aside) hold a value twice: codes by counting (O(n +
    dictionary)), other keys by sorting."""
    if index.by_code is not None:
        present = keys[keys != NULL]
        return bool(len(present)) and int(np.bincount(present).max()) > 1
    ordered = np.sort(keys)
    return bool(np.any(ordered[1:] == ordered[:-1]))
