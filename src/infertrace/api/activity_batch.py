"""Records from JSON, and batch writes with an ``on_conflict`` rule.

A batch is checked whole before anything is written: every record that cannot
be built (a missing or unknown field, a wrong type, a value its record refuses)
is listed by index with the field and the reason, and nothing is stored (422).
Then, by ``on_conflict``:

- ``error``: the store's all-or-nothing batch insert; a key (or email) that is
  stored or repeated refuses the batch, every clash listed (409).
- ``skip``: records whose key is stored, or repeats an earlier one of the
  batch, are left out (the stored record is kept: an idempotent re-import);
  the rest go in as one atomic batch. A concurrent writer storing one of those
  keys in between makes the batch look again (up to ``RACE_RETRIES`` times), so
  parallel imports of overlapping history both succeed.
- ``replace``: records whose key is stored overwrite it (the last of repeats
  wins), the rest go in as one atomic batch. Clashes of a unique email with
  another developer are found before anything is written (409). The new
  records land atomically; the replacements follow one by one, so a reader may
  briefly see some replaced and not others.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.records import Developer, Record
from infertrace.activity.tables import LAYOUTS
from infertrace.errors import DuplicateRecord, InvalidParameter, RecordNotFound

_ORDER: dict[type, tuple[str, ...]] = {k: tuple(f.name for f in fields(k)) for k in LAYOUTS}
_FIELDS: dict[type, frozenset[str]] = {k: frozenset(names) for k, names in _ORDER.items()}
_REQUIRED: dict[type, tuple[str, ...]] = {
    k: tuple(f.name for f in fields(k) if f.default is MISSING and f.default_factory is MISSING)
    for k in LAYOUTS
}
RACE_RETRIES = 5
"""Times a skip/replace batch looks again after a concurrent writer stored its keys."""
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


def write(
    store: MemoryActivityStore, records: Sequence[Record], rule: OnConflict
) -> Written | Refusal:
    """Store ``records`` (one kind) by ``rule``; a 409 Refusal (or CapacityExceeded,
    raised) leaves the store as it was. O(m) plus the store's batch insert."""
    if not records:
        return Written(0, 0, 0)
    if rule is OnConflict.ERROR:
        try:
            return Written(store.save_batch(records), 0, 0)
        except DuplicateRecord as exc:
            problems = [(i, _field_of(reason), reason) for i, reason in exc.problems]
            return _refusal(409, problems, len(records), "duplicate")
    layout = LAYOUTS[type(records[0])]
    key = layout.key
    by_key: dict[Any, int] = {}
    for i, record in enumerate(records):
        if rule is OnConflict.SKIP:
            by_key.setdefault(getattr(record, key), i)
        else:
            by_key[getattr(record, key)] = i
    repeats = len(records) - len(by_key)
    if rule is OnConflict.REPLACE and layout.kind is Developer:
        clash = _check_emails(store, [records[i] for i in by_key.values()], list(by_key.values()))
        if clash is not None:
            return clash
    for _attempt in range(RACE_RETRIES):
        with store.reading() as view:
            stored = {k for k in by_key if view.get(layout.kind, k) is not None}
        fresh = [records[i] for k, i in by_key.items() if k not in stored]
        inserted = _insert(store, fresh, by_key, records, key)
        if inserted is not None:
            break
    else:  # every attempt lost a race for the same keys: say so rather than loop
        return _refusal(409, [(0, key, "concurrent writes kept taking the batch's keys")],
                        len(records), "duplicate")  # fmt: skip
    if isinstance(inserted, Refusal):
        return inserted
    if rule is OnConflict.SKIP:
        return Written(inserted, len(stored) + repeats, 0)
    replacing = [records[by_key[k]] for k in stored]
    for record in replacing:
        try:
            store.update(record)
        except RecordNotFound:  # deleted meanwhile: it is new again
            store.save(record)
    return Written(inserted, repeats, len(replacing))


def _insert(
    store: MemoryActivityStore,
    fresh: list[Record],
    by_key: dict[Any, int],
    records: Sequence[Record],
    key: str,
) -> int | Refusal | None:
    """Insert the records not stored when we looked; None when another writer stored
    one of their keys since (the caller looks again), a Refusal for any other clash."""
    try:
        return store.save_batch(fresh)
    except DuplicateRecord as exc:
        problems = [
            (by_key[getattr(fresh[i], key)], _field_of(reason), reason)
            for i, reason in exc.problems
        ]
        with store.reading() as view:
            raced = all(view.get(type(fresh[i]), getattr(fresh[i], key)) is not None
                        for i, _ in exc.problems)  # fmt: skip
        if raced:
            return None
        return _refusal(409, problems, len(records), "duplicate")


def _check_emails(
    store: MemoryActivityStore, developers: list[Record], indexes: list[int]
) -> Refusal | None:
    """A 409 Refusal, before anything is written, if a developer's email belongs to
    another one (stored, or earlier in the batch)."""
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for index, dev in zip(indexes, developers, strict=True):
        assert isinstance(dev, Developer)
        try:
            holder: str | None = store.find_developer(dev.email).id
        except RecordNotFound:
            holder = None
        owner = owners.setdefault(dev.email, dev.id)
        if holder is not None and holder != dev.id:
            problems.append(
                (index, "email", f"email {dev.email!r} belongs to developer {holder!r}")
            )
        elif owner != dev.id:
            problems.append((index, "email", f"email {dev.email!r} is also given to {owner!r}"))
    if problems:
        return _refusal(409, sorted(problems, key=lambda p: p[0]), len(developers), "duplicate")
    return None


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
