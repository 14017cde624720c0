"""Records from JSON, and batch writes with an ``on_conflict`` rule.

A batch is checked whole before anything is written: every record that cannot
be built (a missing or unknown field, a wrong type, a value its record refuses)
is listed by index with the field and the reason, and nothing is stored (422).
Then, by ``on_conflict``:

- ``error``: the store's all-or-nothing batch insert; a key (or email) that is
  stored or repeated refuses the batch, every clash listed (409).
- ``skip``: records whose key is stored, or repeats an earlier one of the
  batch, are left out (the stored record is kept: an idempotent re-import);
  the rest are inserted.
- ``replace``: records whose key is stored overwrite it (the last of repeats
  wins); the rest are inserted. A unique email that another developer holds
  (stored, or earlier in the batch) refuses the batch (409).

Every rule is one call of the store's ``upsert_batch``: decided, checked,
logged and applied under one write lock, so a reader sees the whole batch or
none of it, parallel imports of overlapping history cannot race between a look
and a write, and a crash leaves the batch all logged or not at all.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

from infertrace.activity.records import Record
from infertrace.activity.store import ActivityStore
from infertrace.activity.tables import LAYOUTS
from infertrace.errors import DuplicateRecord, InvalidParameter

_ORDER: dict[type, tuple[str, ...]] = {k: tuple(f.name for f in fields(k)) for k in LAYOUTS}
_FIELDS: dict[type, frozenset[str]] = {k: frozenset(names) for k, names in _ORDER.items()}
_REQUIRED: dict[type, tuple[str, ...]] = {
    k: tuple(f.name for f in fields(k) if f.default is MISSING and f.default_factory is MISSING)
    for k in LAYOUTS
}
Problem = tuple[int, str | None, str]
"""``(index, field or None, reason)`` of a refused record."""


class OnConflict(enum.StrEnum):
    """What a batch does with a record whose key is already stored."""

    ERROR = "error"
    SKIP = "skip"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class Written:
    """What a batch did."""

    inserted: int
    skipped: int
    replaced: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """A batch refused whole: ``status`` 422 (invalid) or 409 (duplicates). A value the
    route answers as it is, not an exception."""

    status: int
    detail: str
    problems: tuple[Problem, ...]

    def body(self) -> dict[str, Any]:
        """The answer's JSON: ``detail`` and every failing record."""
        return {
            "detail": self.detail,
            "errors": [{"index": i, "field": f, "reason": r} for i, f, r in self.problems],
        }


def build(kind: type[Record], data: object) -> Record:
    """The record of ``data`` (a JSON object); InvalidParameter naming the first bad field.
    The record's constructor checks every value (types strictly: no "1" for 1); here
    only the object's shape. O(fields)."""
    if not isinstance(data, dict):
        raise InvalidParameter("", f"record {data!r:.60} is not a JSON object")
    known = _FIELDS[kind]
    if not known.issuperset(data):
        name = sorted(k for k in data if k not in known)[0]
        raise InvalidParameter(
            str(name), f"{name!r} is not a {kind.__name__} field ({', '.join(_ORDER[kind])})"
        )
    try:
        record: Record = kind(**data)
    except TypeError:  # a required field is missing
        missing = [f for f in _REQUIRED[kind] if f not in data]
        name = missing[0] if missing else ""
        raise InvalidParameter(name, f"{name} is required") from None
    return record


def build_all(kind: type[Record], items: Sequence[object]) -> list[Record] | Refusal:
    """Every record of a batch, or a 422 Refusal listing each one that fails. O(m)."""
    records: list[Record] = []
    append = records.append
    problems: list[Problem] = []
    for i, data in enumerate(items):
        try:
            append(build(kind, data))
        except InvalidParameter as exc:
            problems.append((i, exc.name or None, exc.message))
    if problems:
        return _refusal(422, problems, len(items), "invalid")
    return records


def write(store: ActivityStore, records: Sequence[Record], rule: OnConflict) -> Written | Refusal:
    """Store ``records`` (one kind) by ``rule`` in one atomic store call; a 409 Refusal
    (or CapacityExceeded, raised) leaves the store as it was. O(m) vectorised."""
    try:
        done = store.upsert_batch(records, rule.value)
    except DuplicateRecord as exc:
        problems = [(i, _field_of(reason), reason) for i, reason in exc.problems]
        return _refusal(409, problems, len(records), "duplicate")
    return Written(done.inserted, done.skipped, done.replaced)


def _field_of(reason: str) -> str | None:
    """The field a store's clash reason starts with ("email 'a@b' already exists")."""
    head = reason.split(" ", 1)[0]
    return head if head.isidentifier() else None


def _refusal(status: int, problems: Sequence[Problem], total: int, what: str) -> Refusal:
    i, _, reason = problems[0]
    detail = (
        f"{len(problems)} of {total} records refused ({what}), nothing stored; "
        f"first: record {i}: {reason}"
    )
    return Refusal(status, detail, tuple(problems))
