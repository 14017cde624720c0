"""AgentWriter: what one call of the coding-agent feed gathered, written to the store.

:class:`Gathered` holds a call's developers, session deltas and changes;
:meth:`AgentWriter.write` stores them developers first, then sessions, then
changes (so no change is written before its developer), one batch insert per
record type, leaving out records already stored (a resent batch). A session
seen before is updated in place (tokens and cost added, times widened), all of a
call's in one ``upsert_batch`` (replace), as are its changed developers.

A write the store refuses (``CapacityExceeded`` past a limit) raises to the
pipeline, which logs and counts it; what the call gathered is then lost (its
counters have moved on), the records written before it stay.

The writer keeps the developers and sessions it last wrote, so a call need not
read them back, and forgets them when anyone else writes that record type (it
listens to the store; its own writes are told apart by thread). Not thread-safe
on its own: :class:`~infertrace.activity.agent_feed.CodingAgentProcessor` calls
it under its lock.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from infertrace.activity import agent_names as n
from infertrace.activity.identity import developer_id_for
from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.records import Change, ChangeKind, Developer, Region, Session
from infertrace.errors import DuplicateRecord, RecordNotFound

R = TypeVar("R", Developer, Session, Change)
AGENT_EDIT = ChangeKind.AGENT_EDIT
_REGIONS = {r.value.lower(): r for r in Region}


@functools.lru_cache(maxsize=4096)
def dev_id(email: str) -> str:
    """:func:`identity.developer_id_for`, cached: every edit of a developer asks."""
    return developer_id_for(email)


def change_id(*parts: object) -> str:
    """A change's id from what identifies its observation (stable across processes)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest()
    return "agent-" + digest


@dataclass(slots=True)
class SessionDelta:
    """What one call saw of a session: who, which tool, when, and the usage to add."""

    email: str
    tool: str
    first: int
    last: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0


@dataclass(slots=True)
class Gathered:
    """What one call gathered, written at its end."""

    developers: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    sessions: dict[str, SessionDelta] = field(default_factory=dict)
    changes: dict[str, tuple[str, Change]] = field(default_factory=dict)
    """Change id -> (email, change with the email's default developer id)."""
    edits_at: dict[tuple[str, int], str] = field(default_factory=dict)
    """(session, time) -> id of the first accepted edit there, for lines to join."""
    lines: dict[tuple[str, str, str, int], list[int]] = field(default_factory=dict)
    """(prefix, email, session, time) -> [added, removed]."""


class AgentWriter:
    """Writes :class:`Gathered` calls to ``store``; ``tools`` maps a prefix to the tool
    name its records carry; ``stats`` is the feed's counter dict (written here)."""

    def __init__(
        self, store: MemoryActivityStore, tools: Mapping[str, str], stats: dict[str, int],
        max_known: int,
    ) -> None:  # fmt: skip
        self.store = store
        self.stats = stats
        self._tools = dict(tools)
        self._max_known = max_known
        self._known: dict[type, dict[str, Any]] = {Developer: {}, Session: {}}
        """Developers (by email) and sessions (by id) as last written or read."""
        self._writer = 0
        """The thread writing (0: none), whose store notices are the writer's own."""
        self._closed = False
        store.subscribe(self._heard)

    def close(self) -> None:
        """Stop listening to the store and forget; writes still work, reading back
        every record. Safe to call twice."""
        self._closed = True
        self.store.unsubscribe(self._heard)
        self._forget()

    def _heard(self, kind: type, days: frozenset[int] | None) -> None:
        """A store write: unless the feed made it, what it knew of that type may be stale."""
        if threading.get_ident() != self._writer:
            known = self._known.get(kind)
            if known is not None:
                known.clear()

    def _forget(self) -> None:
        for known in self._known.values():
            known.clear()

    def _remember(self, kind: type, key: str, record: Any) -> None:
        if self._closed:  # no longer told of others' writes: keep nothing
            return
        known = self._known[kind]
        if len(known) >= self._max_known:
            known.clear()
        known[key] = record

    def write(self, call: Gathered) -> None:
        """Developers, then sessions, then changes: one batch insert per type."""
        self._writer = threading.get_ident()
        try:
            self._lines(call)
            ids = self._write_developers(call)
            self._write_sessions(call, ids)
            changes = []
            for email, change in call.changes.values():
                dev = ids[email]
                changes.append(change if dev == change.developer_id
                               else dataclasses.replace(change, developer_id=dev))  # fmt: skip
            self._insert_new(changes, "changes")
        except BaseException:
            self._forget()  # a write may have half happened: read the store next time
            raise
        finally:
            self._writer = 0

    def _lines(self, call: Gathered) -> None:
        """Fold each (session, time)'s lines into its first accepted edit, else a change."""
        for (prefix, email, session, time), (added, removed) in call.lines.items():
            cid = call.edits_at.get((session, time))
            if cid is not None:
                owner, edit = call.changes[cid]
                call.changes[cid] = (owner, dataclasses.replace(
                    edit, lines_added=edit.lines_added + added,
                    lines_removed=edit.lines_removed + removed))  # fmt: skip
                continue
            cid = change_id(prefix, session, n.LINES_OF_CODE, time)
            call.changes[cid] = (email, Change(
                cid, dev_id(email), time, AGENT_EDIT, self._tools[prefix], "", added,
                removed, True))  # fmt: skip

    def _write_developers(self, call: Gathered) -> dict[str, str]:
        """Create or update the call's developers; email -> the stored id."""
        ids: dict[str, str] = {}
        new: list[Developer] = []
        changed: list[Developer] = []
        for email, (first, named) in call.developers.items():
            key = dev_id(email)
            current = self._known[Developer].get(email) or self._find(key, email)
            fields: dict[str, Any] = dict(named)
            if "region" in fields:
                fields["region"] = _REGIONS.get(named["region"].strip().lower(), Region.OTHER)
            if current is None:
                new.append(Developer(key, email, created_at=first, **fields))
                ids[email] = key
                continue
            ids[email] = current.id
            if any(getattr(current, k) != v for k, v in fields.items()):
                current = dataclasses.replace(current, **fields)
                changed.append(current)
            self._remember(Developer, email, current)
        self._replace(changed, "developers_updated")
        for dev in self._insert_new(new, "developers_created"):
            self._remember(Developer, dev.email, dev)
        return ids

    def _find(self, key: str, email: str) -> Developer | None:
        """The stored developer of ``key``, else the one with ``email``, else None."""
        try:
            return self.store.get(Developer, key)
        except RecordNotFound:
            pass
        try:  # a developer stored under another id (a REST client chose it)
            return self.store.find_developer(email)
        except RecordNotFound:
            return None

    def _write_sessions(self, call: Gathered, ids: dict[str, str]) -> None:
        new: list[Session] = []
        changed: list[Session] = []
        known = self._known[Session]
        for sid, d in call.sessions.items():
            s = known.get(sid)
            if s is None:
                try:
                    s = self.store.get(Session, sid)
                except RecordNotFound:
                    new.append(Session(sid, ids[d.email], d.tool, d.first, d.last,
                                       d.input_tokens, d.output_tokens, d.cost))  # fmt: skip
                    continue
            s = dataclasses.replace(
                s, started_at=min(s.started_at, d.first), ended_at=max(s.ended_at, d.last),
                input_tokens=s.input_tokens + d.input_tokens,
                output_tokens=s.output_tokens + d.output_tokens, cost_usd=s.cost_usd + d.cost,
            )  # fmt: skip
            changed.append(s)
            self._remember(Session, sid, s)
        self._replace(changed, "sessions_updated")
        for s in self._insert_new(new, "sessions_created"):
            self._remember(Session, s.id, s)

    def _replace(self, records: Sequence[Developer] | Sequence[Session], stat: str) -> None:
        """Store the updated ``records``: one ``update`` for one (the common case, a
        Claude Code process's own request; cheaper than the vectorised batch path),
        else one ``upsert_batch``."""
        if len(records) == 1:
            self.store.update(records[0])
        elif records:
            self.store.upsert_batch(records, "replace")
        self.stats[stat] += len(records)

    def _insert_new(self, records: Sequence[R], stat: str) -> Sequence[R]:
        """Insert the records in one batch, leaving out any whose key is stored; those
        inserted."""
        for _ in range(3):  # a concurrent writer (REST) may take a key between tries
            if not records:
                break
            try:
                self.store.save_batch(records)
            except DuplicateRecord as exc:
                taken = {i for i, _ in exc.problems}
                self.stats["duplicates"] += len(taken)
                records = [r for i, r in enumerate(records) if i not in taken]
                continue
            self.stats[stat] += len(records)
            return records
        return ()
