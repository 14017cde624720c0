"""The activity store protocol: what the feeds, the REST API and the CLI call.

One set of operations serves every record type, named by its class
(``store.get(Developer, "d1")``, ``store.list(Commit, {"repo": "api"})``), so a
new type adds a layout, not a dozen methods. Records are immutable: a store
hands out the ones it holds.

Errors (:mod:`infertrace.errors`): ``RecordNotFound`` for an unknown key,
``DuplicateRecord`` for a repeated id or email (every offending record of a
batch listed by index), ``InvalidParameter`` naming a bad field, filter, limit
or offset, ``CapacityExceeded`` past a configured per-type limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

from infertrace.activity.records import Commit, Record

R = TypeVar("R", bound=Record)

Filters = Mapping[str, object]
"""Column -> value (equality) or a :class:`~infertrace.engine.planner.Between`
(``low <= column < high``). Columns are the record's fields and ``day``."""
OnConflict = Literal["error", "skip", "replace"]
"""What a batch does with a record whose key is stored (or repeated in the batch):
refuse the batch, leave the record out (the first of repeats is kept), or replace the
stored record (the last of repeats wins)."""


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What a batch did: records inserted, left out (stored or repeated keys) and
    replacing a stored one; they add up to the batch's length."""

    inserted: int
    skipped: int
    replaced: int


@runtime_checkable
class ActivityStore(Protocol):
    """Save, read, list, count, update and delete activity records of any type."""

    def save(self, record: Record) -> None:
        """Insert one record; DuplicateRecord if its key (or a unique field) is taken."""

    def save_batch(self, records: Sequence[Record]) -> int:
        """Insert all records (one type) or none, atomically to readers; how many."""

    def upsert_batch(
        self, records: Sequence[Record], on_conflict: OnConflict = "error"
    ) -> UpsertResult:
        """Insert all records (one type), skipping or replacing stored keys by
        ``on_conflict``, as one atomic change, or refuse the batch whole
        (DuplicateRecord listing every clash of a unique field, CapacityExceeded)."""

    def get(self, kind: type[R], key: str) -> R:
        """The record of ``kind`` with primary key ``key``; RecordNotFound if none."""

    def count(self, kind: type[Record], filters: Filters | None = None) -> int:
        """How many records of ``kind`` match every filter."""

    def update(self, record: R) -> R:
        """Replace the stored record with ``record``'s key; the old one."""

    def delete(self, kind: type[R], key: str) -> R:
        """Remove and return the record of ``kind`` with ``key``."""

    def get_commits_in_range(
        self, start: int, end: int, *, developer_id: str | None = None,
        limit: int | None = None, offset: int = 0,
    ) -> list[Commit]:  # fmt: skip
        """Commits with ``start <= timestamp < end`` (unix ns), oldest first."""

    def list(
        self, kind: type[R], filters: Filters | None = None, *, limit: int | None = None,
        offset: int = 0,
    ) -> list[R]:  # fmt: skip
        """Records of ``kind`` matching every filter, by primary key, paged."""
