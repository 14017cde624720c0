"""CodingAgentProcessor: coding-agent telemetry in, developers, sessions and changes out.

Structurally a collector ``Processor`` (``on_spans``, ``on_logs``,
``on_metrics``, ``shutdown``) without importing the collector (layers). It reads
the metrics and events Claude Code publishes (names and attributes in
:mod:`infertrace.activity.agent_names`, from
https://code.claude.com/docs/en/monitoring-usage) under every configured prefix,
and writes, per call, one batch per record type:

- **Developers**, keyed by ``user.email`` (else ``user.account_uuid``, else
  ``user.account_id``, as a stand-in address from :func:`identity.account_email`),
  their id from :func:`identity.developer_id_for`. Region, division and team come
  from the settings' attribute map, resource attributes first and the record's
  own over them; a region outside US/EU/APAC is ``other``. A stored developer is
  updated only when a mapped field the telemetry names has another value; its
  name (a roster's) is kept.
- **Sessions**, keyed by ``session.id``: the prefix's tool, started/ended at the
  first/last observation, tokens (``input`` and ``output``; cache reads and
  writes are priced apart and left out, their cost is in ``cost_usd``) and cost.
- **Changes**: one agent edit per unit of ``code_edit_tool.decision`` increase,
  or per ``tool_decision`` event of an edit tool (Edit, Write, NotebookEdit),
  accepted when the decision is ``accept``; ``lines_of_code.count`` increases give
  lines added/removed, folded into the first accepted edit of the same session
  and time in the batch (Claude Code exports every counter at one instant), else
  into a change of their own. Change ids are a hash of (prefix, session, name,
  attributes, time, ordinal), so a batch sent again stores nothing new.

Not stored: ``commit.count`` and ``pull_request.count`` (a commit record needs a
sha; commits come from ``activity import-git``), ``active_time.total``; each
still marks its session active.

**Metrics and events both carry tokens, cost and edit decisions.** Per session
and family (usage: ``token.usage``/``cost.usage`` vs ``api_request``; edits:
``code_edit_tool.decision`` vs ``tool_decision``), the first source to report
claims it and the other is ignored for that session: either alone is complete,
so the totals are counted once whichever is exported. Counter points go through
:class:`~infertrace.activity.agent_counters.CounterTracker` (cumulative or
delta, resets, resends); events are remembered (bounded) so a resent event adds
nothing.

A cumulative series counts its first point's value (all it counted since its start)
only when its session was new to the store when this run first saw it; a session
stored before (a restart over a durable store) starts from a baseline, so a running
total is never counted twice. A delta point resent after a restart is counted
again, except its changes (their ids repeat).

Thread-safe: one lock serialises a call's state changes and store writes
(:mod:`~infertrace.activity.agent_writer`; the store's listeners run under it).
Cost: a name check per point or record for other telemetry; for the feed's own,
O(1) Python work per point or event plus the store's writes, a few per call
(figures: ``python -m benchmarks agent_feed``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from operator import attrgetter
from typing import Any

from infertrace.activity import agent_names as n
from infertrace.activity.agent_counters import CounterTracker
from infertrace.activity.agent_settings import AgentFeedSettings
from infertrace.activity.agent_writer import (
    AGENT_EDIT,
    AgentWriter,
    Gathered,
    SessionDelta,
    change_id,
    dev_id,
)
from infertrace.activity.identity import account_email, normalize_email
from infertrace.activity.memory import MemoryActivityStore
from infertrace.activity.records import Change, Session
from infertrace.errors import InvalidParameter, RecordNotFound
from infertrace.model import Attributes, LogRecord, MetricPoint, MetricType, Span, Temporality
from infertrace.telemetry.batches import ColumnBatch

__all__ = ["AgentFeedSettings", "CodingAgentProcessor"]

MAX_EDITS_PER_POINT = 10_000
"""An edit-decision increase above this (a corrupt or hostile value) is clipped."""

_POINT_COLUMNS = ("name", "type", "time_unix_nano", "start_time_unix_nano", "value",
                  "temporality", "attributes", "resource_attributes")  # fmt: skip
_PointRow = tuple[str, MetricType, int, int, "float | int | None", Temporality, Attributes,
                  Attributes]  # fmt: skip
_point_row: Callable[[MetricPoint], _PointRow] = attrgetter(*_POINT_COLUMNS)
_SUM = MetricType.SUM
_USAGE, _EDITS = "usage", "edits"
_MISSING = object()


def _text(attrs: Attributes, resource: Attributes, key: str) -> str:
    """The record's value of ``key``, else the resource's, as text ('' if none)."""
    v = attrs.get(key)
    if v is None or v == "":
        v = resource.get(key)
    if v is None or isinstance(v, tuple):
        return ""
    return v if type(v) is str else str(v)


def _number(value: object) -> float:
    """An event attribute as a count or amount: numbers and numeric text; else 0."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        x = float(value)
    elif isinstance(value, str):
        try:
            x = float(value)
        except ValueError:
            return 0.0
    else:
        return 0.0
    return x if 0 <= x < float("inf") else 0.0


class CodingAgentProcessor:
    """The coding-agent feed as a pipeline processor (see the module docstring)."""

    def __init__(
        self, store: MemoryActivityStore, settings: AgentFeedSettings | None = None
    ) -> None:
        self.store = store
        self.settings = settings = settings or AgentFeedSettings()
        self._starts = tuple(p + "." for p in settings.prefixes)
        self._tools = {p: n.tool_for(p) for p in settings.prefixes}
        self._amap = tuple(settings.attribute_map.items())
        self._lock = threading.Lock()
        self._counters = CounterTracker(settings.max_series, settings.idle_seconds)
        self._claims: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._events: OrderedDict[Hashable, None] = OrderedDict()
        self._names: dict[str, tuple[str, str] | None] = {}
        self._emails: dict[tuple[str, str], object] = {}
        self._sessions: OrderedDict[str, bool] = OrderedDict()
        """Session id -> whether it was new to the store when this run first saw it."""
        self.stats: dict[str, int] = dict.fromkeys(
            ("points", "events", "unattributed", "developers_created", "developers_updated",
             "sessions_created", "sessions_updated", "changes", "duplicates"), 0,
        )  # fmt: skip
        """Counts since start: points and events read, records written, observations
        without a user (``unattributed``), changes already stored (``duplicates``)."""
        self._writer = AgentWriter(store, self._tools, self.stats, settings.max_series)

    # -- the Processor protocol -------------------------------------------------

    def on_spans(self, spans: Sequence[Span], resources: Sequence[Attributes]) -> None:
        """Spans carry nothing for the feed."""

    def on_metrics(self, points: Sequence[MetricPoint], resources: Sequence[Attributes]) -> None:
        """Read the points named under a configured prefix. O(points) name checks
        plus O(1) per feed point."""
        starts = self._starts
        if isinstance(points, ColumnBatch):  # read the columns, build no records
            names = points.column("name")
            keep = [i for i, name in enumerate(names) if name.startswith(starts)]
            cols = [points.column(c) for c in _POINT_COLUMNS] if keep else []
            mine: list[_PointRow] = list(zip(*[[c[i] for i in keep] for c in cols], strict=True))
        else:
            mine = [_point_row(p) for p in points if p.name.startswith(starts)]
        if mine:
            with self._lock:
                self._writer.write(self._read_points(mine))

    def on_logs(self, records: Sequence[LogRecord], resources: Sequence[Attributes]) -> None:
        """Read the events named under a configured prefix (by body or ``event.name``)."""
        starts = self._starts
        if isinstance(records, ColumnBatch):
            bodies, attrs = records.column("body"), records.column("attributes")
            mine = [
                records[i] for i, (b, a) in enumerate(zip(bodies, attrs, strict=True))
                if b.startswith(starts) or str(a.get(n.EVENT_NAME, "")).startswith(starts)
            ]  # fmt: skip
        else:
            mine = [
                r for r in records
                if r.body.startswith(starts)
                or str(r.attributes.get(n.EVENT_NAME, "")).startswith(starts)
            ]  # fmt: skip
        if mine:
            with self._lock:
                self._writer.write(self._read_events(mine))

    def shutdown(self) -> None:
        """Forget the per-series state and stop listening to the store; safe to call
        twice."""
        with self._lock:
            self._writer.close()
            self._claims.clear()
            self._events.clear()
            self._counters = CounterTracker(self.settings.max_series, self.settings.idle_seconds)
            self._sessions.clear()

    # -- reading ------------------------------------------------------------------

    def _split(self, name: str) -> tuple[str, str] | None:
        """(prefix, short name) of a name under a configured prefix; cached (bounded)."""
        found = self._names.get(name, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        split = None
        for prefix, start in zip(self.settings.prefixes, self._starts, strict=True):
            if name.startswith(start):
                split = prefix, name[len(start) :]
                break
        if len(self._names) < 4096:  # names a producer invents stay uncached past this
            self._names[name] = split
        return split

    def _email(self, attrs: Attributes, resource: Attributes) -> str | None:
        """The developer's email: ``user.email``, else a stand-in for the account.
        Answers are cached by the text sent (bounded), as every point repeats it."""
        raw = _text(attrs, resource, n.USER_EMAIL)
        account = "" if raw else (_text(attrs, resource, n.ACCOUNT_UUID)
                                  or _text(attrs, resource, n.ACCOUNT_ID))  # fmt: skip
        key = (raw, account)
        email = self._emails.get(key, _MISSING)
        if email is _MISSING:
            email = None
            try:
                if raw:
                    email = normalize_email(raw)
                elif account:
                    email = account_email(account)
            except InvalidParameter:
                pass
            if len(self._emails) >= 65_536:
                self._emails.clear()
            self._emails[key] = email
        if email is None:
            self.stats["unattributed"] += 1
        return email  # type: ignore[return-value]

    def _note(
        self, call: Gathered, prefix: str, email: str, attrs: Attributes, resource: Attributes,
        time: int,
    ) -> str:  # fmt: skip
        """Record the developer's mapped fields and the session's activity; the session id."""
        dev = call.developers.get(email)
        if dev is None:
            dev = call.developers[email] = (time, {})
        mapped = dev[1]
        for key, target in self._amap:  # _text, inlined: this runs per point
            v = attrs.get(key)
            if v is None or v == "":
                v = resource.get(key)
            if v is not None and v != "" and not isinstance(v, tuple):
                mapped[target] = v if type(v) is str else str(v)
        session = _text(attrs, resource, n.SESSION_ID)
        if session:
            delta = call.sessions.get(session)
            if delta is None:
                call.sessions[session] = SessionDelta(email, self._tools[prefix], time, time)
            else:
                delta.first, delta.last = min(delta.first, time), max(delta.last, time)
        return session

    def _claim(self, session: str, email: str, family: str, source: str) -> bool:
        """True when ``source`` feeds ``family`` for this session (the first to come)."""
        key = (session or "dev:" + email, family)
        held = self._claims.get(key)
        if held is None:
            self._claims[key] = held = source
            if len(self._claims) > self.settings.max_series:
                self._claims.popitem(last=False)
        else:
            self._claims.move_to_end(key)
        return held == source

    def _fresh(self, session: object) -> bool:
        """Whether the feed has seen ``session`` from its beginning: not stored when
        first seen in this run. A cumulative series of any other session (stored
        before a restart) starts from a baseline, as its running total up to now may
        be stored already. Remembered (bounded; a forgotten session is looked up again,
        found stored, and no longer counts as fresh: the safe side)."""
        if type(session) is not str or not session:
            return True
        fresh = self._sessions.get(session)
        if fresh is None:
            try:
                self.store.get(Session, session)
                fresh = False
            except RecordNotFound:
                fresh = True
            self._sessions[session] = fresh
            if len(self._sessions) > self.settings.max_series:
                self._sessions.popitem(last=False)
        return fresh

    def _read_points(self, points: list[_PointRow]) -> Gathered:
        call = Gathered()
        step = self._counters.step
        frozen: dict[int, tuple[Any, ...]] = {}  # id(resource) -> its items, sorted
        self.stats["points"] += len(points)
        for name, kind, time, start, value, temporality, attrs, resource in points:
            split = self._split(name)
            if split is None or kind != _SUM or split[1] not in n.METRICS:
                continue
            prefix, metric = split
            res_key = frozen.get(id(resource))
            if res_key is None:
                res_key = frozen[id(resource)] = tuple(sorted(resource.items()))
            key = (name, tuple(sorted(attrs.items())), res_key)
            fresh = self._fresh(attrs.get(n.SESSION_ID))  # asked of every point: first sight
            inc = step(key, temporality, start, time,
                       float(value) if value is not None else 0.0, fresh)  # fmt: skip
            if inc <= 0:
                continue
            email = self._email(attrs, resource)
            if email is None:
                continue
            session = self._note(call, prefix, email, attrs, resource, time)
            if metric == n.TOKEN_USAGE or metric == n.COST_USAGE:
                if self._claim(session, email, _USAGE, "metric"):
                    self._usage(call, session, metric, attrs.get(n.TYPE), inc)
            elif metric == n.EDIT_DECISION:
                if self._claim(session, email, _EDITS, "metric"):
                    edits = min(round(inc), MAX_EDITS_PER_POINT)
                    accepted = attrs.get(n.DECISION) == n.ACCEPT
                    language = _text(attrs, resource, n.LANGUAGE)
                    base = change_id(prefix, session, metric, key[1], time)
                    for j in range(edits):
                        cid = f"{base}.{j}"
                        self._edit(call, prefix, email, session, cid, time, language, accepted)
            elif metric == n.LINES_OF_CODE:
                side = attrs.get(n.TYPE)
                if side == n.ADDED or side == n.REMOVED:
                    counts = call.lines.setdefault((prefix, email, session, time), [0, 0])
                    counts[side == n.REMOVED] += round(inc)
        return call

    def _usage(self, call: Gathered, session: str, metric: str, kind: object, inc: float) -> None:
        delta = call.sessions.get(session)
        if delta is None:
            return  # no session to hold it
        if metric == n.COST_USAGE:
            delta.cost += inc
        elif kind == n.INPUT:
            delta.input_tokens += round(inc)
        elif kind == n.OUTPUT:
            delta.output_tokens += round(inc)

    def _edit(
        self, call: Gathered, prefix: str, email: str, session: str, cid: str, time: int,
        language: str, accepted: bool,
    ) -> None:  # fmt: skip
        change = Change(cid, dev_id(email), time, AGENT_EDIT, self._tools[prefix], language, 0, 0,
                        accepted)  # fmt: skip
        call.changes[cid] = (email, change)
        if accepted:
            call.edits_at.setdefault((session, time), cid)

    def _read_events(self, records: list[LogRecord]) -> Gathered:
        call = Gathered()
        self.stats["events"] += len(records)
        seen = self._events
        for r in records:
            attrs, resource = r.attributes, r.resource_attributes
            split = self._split(r.body) or self._split(str(attrs.get(n.EVENT_NAME, "")))
            if split is None or split[1] not in n.EVENTS:
                continue
            prefix, event = split
            time = r.time_unix_nano or r.observed_time_unix_nano
            ident = (prefix, event, _text(attrs, resource, n.SESSION_ID), time,
                     attrs.get(n.EVENT_SEQUENCE), attrs.get(n.TOOL_USE_ID))  # fmt: skip
            if ident in seen:
                seen.move_to_end(ident)
                continue
            seen[ident] = None
            if len(seen) > self.settings.max_series:
                seen.popitem(last=False)
            self._fresh(attrs.get(n.SESSION_ID))  # the session's first sight, if it is
            email = self._email(attrs, resource)
            if email is None:
                continue
            session = self._note(call, prefix, email, attrs, resource, time)
            if event == n.API_REQUEST:
                if self._claim(session, email, _USAGE, "event"):
                    delta = call.sessions.get(session)
                    if delta is not None:
                        delta.input_tokens += round(_number(attrs.get(n.INPUT_TOKENS)))
                        delta.output_tokens += round(_number(attrs.get(n.OUTPUT_TOKENS)))
                        delta.cost += _number(attrs.get(n.COST_USD))
            elif event == n.TOOL_DECISION:
                tool = attrs.get(n.TOOL_NAME) or attrs.get(n.TOOL)
                if tool in n.EDIT_TOOLS and self._claim(session, email, _EDITS, "event"):
                    cid = change_id(prefix, session, event, ident[4], ident[5], time)
                    accepted = attrs.get(n.DECISION) == n.ACCEPT
                    self._edit(call, prefix, email, session, cid, time, "", accepted)
        return call

    # -- invariants ---------------------------------------------------------------

    def _check(self) -> None:
        with self._lock:
            assert len(self._claims) <= self.settings.max_series
            assert len(self._events) <= self.settings.max_series
            assert len(self._sessions) <= self.settings.max_series
            assert set(self._claims.values()) <= {"metric", "event"}
        self._counters._check()
