"""Batch upserts of a :class:`~infertrace.engine.columnar.ColumnTable`: insert new keys and
skip or replace stored ones, decided and applied as one change.

:func:`upsert` decides every record first (vectorised over the primary key's
codes), checks every unique column, lets the caller's ``before`` hook look at
the decision (a capacity check, a write-ahead log append), and only then
changes the table: the replaced rows are retired and every written record is
appended in one batch. A refusal anywhere leaves the table as it was.

Rules (``on_conflict``):

- ``error``: :meth:`ColumnTable.insert_columns`: a stored or repeated key is refused.
- ``skip``: a stored key, or one repeating an earlier record, is left out (the
  first of repeats is written); the rest are inserted.
- ``replace``: the last of repeats is written; a stored key's row is retired and
  the new version appended.

A written record's unique value (not the primary key) is refused when a stored
row other than the one it replaces holds it, or an earlier written record of the
batch does: each record must fit beside the rows as they were, so two stored
rows cannot swap a unique value in one batch.

Not thread-safe: the table's owner holds its write lock across the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

import numpy as np

from infertrace.engine.colcheck import repeats
from infertrace.engine.coldata import Array

if TYPE_CHECKING:
    from infertrace.engine.columnar import ColumnTable

R = TypeVar("R")
OnConflict = Literal["error", "skip", "replace"]
RULES: tuple[str, ...] = ("error", "skip", "replace")
Problem = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Upserted(Generic[R]):
    """What an upsert decided: ``written``, the batch positions stored (in the order
    their rows are appended), ``values``, their columns (Python values, what a log
    records), the counts, and ``old``, the replaced records (when asked for)."""

    written: Array
    values: Mapping[str, Sequence[Any]]
    inserted: int
    skipped: int
    replaced: int
    old: list[R] = field(default_factory=list)


def upsert(
    table: ColumnTable[R],
    values: Mapping[str, Sequence[Any]],
    on_conflict: OnConflict,
    before: Callable[[Upserted[R]], object] | None = None,
    old: bool = False,
) -> Upserted[R] | list[Problem]:
    """Apply a batch given by column under ``on_conflict`` (see the module); the
    problems of every refused record (nothing changed) or what was done. ``before``
    runs once the batch is known to apply, before the table changes; if it raises,
    nothing changes. ValueError for an unknown rule or columns of unequal length.
    O(m) vectorised plus O(m) dict work, amortised."""
    if on_conflict not in RULES:
        raise ValueError(f"on_conflict {on_conflict!r} is not one of {', '.join(RULES)}")
    lengths = {len(values[n]) for n in table.stored}
    if len(lengths) > 1:
        raise ValueError(f"columns differ in length: {sorted(lengths)}")
    m = lengths.pop() if lengths else 0
    if on_conflict == "error":
        every: Upserted[R] = Upserted(np.arange(m, dtype=np.int64), values, m, 0, 0)
        hook = None if before is None else (lambda: before(every))
        problems = table.insert_columns(values, before=hook)
        return problems or every
    marks = table._marks()
    try:
        done = _decide(table, values, m, on_conflict, old)
        if isinstance(done, list):
            table._forget(marks)
            return done
        upserted, arrays, retire = done
        if before is not None:
            before(upserted)
    except BaseException:
        table._forget(marks)
        raise
    if len(retire):
        table.retire_rows(retire)
    table._append(arrays)
    table._maybe_compact()
    return upserted


def _decide(
    table: ColumnTable[R],
    values: Mapping[str, Sequence[Any]],
    m: int,
    on_conflict: OnConflict,
    old: bool,
) -> tuple[Upserted[R], dict[str, Array], Array] | list[Problem]:
    """The decision (and the encoded rows to append, the rows to retire), or problems."""
    primary = table.primary
    codes = table.columns[table.key].encode(values[table.key])
    keys = primary.combine([codes])
    if on_conflict == "skip":
        _, chosen = np.unique(keys, return_index=True)  # the first of repeats
    else:
        _, last = np.unique(keys[::-1], return_index=True)
        chosen = m - 1 - last
    chosen = np.sort(chosen).astype(np.int64)
    owners = primary.owners(keys[chosen])
    stored = owners >= 0
    if on_conflict == "skip":
        written, own = chosen[~stored], np.full(int((~stored).sum()), -1, dtype=np.int64)
    else:
        written, own = chosen, owners
    retire = own[own >= 0]
    if len(written) == m:
        subset: Mapping[str, Sequence[Any]] = values
    else:
        at = written.tolist()
        subset = {n: [values[n][i] for i in at] for n in table.stored}
    arrays = {n: table.columns[n].encode(subset[n]) for n in table.stored if n != table.key}
    arrays[table.key] = codes[written]
    for name, (source, fn) in table.derived.items():
        arrays[name] = np.asarray(fn(arrays[source]), dtype=np.int64)
    problems = _clashes(table, subset, arrays, written, own)
    if problems:
        return problems
    replaced = len(retire)
    upserted = Upserted(
        written, subset, len(written) - replaced, m - len(written), replaced,
        table.records(retire) if old and replaced else [],
    )  # fmt: skip
    return upserted, arrays, retire


def _clashes(
    table: ColumnTable[R],
    subset: Mapping[str, Sequence[Any]],
    arrays: Mapping[str, Array],
    written: Array,
    own: Array,
) -> list[Problem]:
    """Each written record whose unique value another stored row (not the one it
    replaces) or an earlier written record holds, by batch position."""
    found: dict[int, str] = {}
    for index in table._unique[1:]:
        ukeys = index.combine([arrays[c] for c in index.columns])
        holders = index.owners(ukeys)
        taken = (holders >= 0) & (holders != own)
        if not taken.any() and not repeats(index, ukeys):
            continue
        column = index.columns[0]
        seen: dict[Any, int] = {}
        for j, position in enumerate(written.tolist()):
            value = subset[column][j]
            if value is None:
                continue
            if taken[j]:
                holder = table.columns[table.key].value_at(int(holders[j]))
                found.setdefault(position, f"{index.name} {value!r} already exists "
                                           f"(held by {table.key} {holder!r})")  # fmt: skip
            elif value in seen:
                found.setdefault(position, f"{index.name} {value!r} repeats record "
                                           f"{seen[value]}")  # fmt: skip
            else:
                seen[value] = position
    return sorted(found.items())
