"""The in-memory registry's part in a data directory: log records and snapshot state.

Both in-memory stores keep their :class:`~infertrace.registry.core.RegistryCore`
durable through one :class:`RegistryLog` (see :mod:`infertrace.engine.journal`
for the protocol). The directory knows one table, ``registry``:

- a **log record** is one change, plain-encoded (:mod:`infertrace.engine.plain`)
  as a tuple led by its op: ``(SAVE, *record fields)``, ``(DELETE, key)``,
  ``(SUBSCRIBE | UNSUBSCRIBE, subscriber, group)``, ``(UNSUBSCRIBE_ALL,
  subscriber)``, ``(CLEAR,)``. A health update is logged as the record it
  stores, so replay never recomputes it. A change that would not change
  anything (a repeated subscription) or that fails its checks is not logged;
- a **snapshot** has two parts: ``services`` (a column per record field, times
  as int64 with -1 for None) and ``subscriptions`` (``group``, ``subscriber``).

The store calls the ``log_*`` methods inside its write lock, after the checks
that could refuse the change and before applying it; each returns a
:data:`Pending` (None when detached or nothing to log) that :func:`wait`
settles outside the lock, or leaves to an enclosing deferral block
(:mod:`infertrace.engine.journal`: ``DEFERRED_WAITS`` here is the engine's, its
errors raised as LogUnavailable).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from infertrace.engine import journal as _journal
from infertrace.engine import plain
from infertrace.engine.journal import APPLIED_LSN, Journal, wait_for
from infertrace.engine.snapfile import TableState
from infertrace.errors import InferTraceError, LogUnavailable
from infertrace.registry.core import RegistryCore, _check_group
from infertrace.registry.records import ServiceInfo, parse_key

TABLE = "registry"
FORMAT = 1
"""Version of the record and snapshot layout, in the snapshot's meta."""

SAVE, DELETE, SUBSCRIBE, UNSUBSCRIBE, UNSUBSCRIBE_ALL, CLEAR = range(1, 7)

Pending = tuple[Journal, int] | None
"""A logged change still to be waited for: the journal and the record's LSN."""

_TIMES = ("registered_at", "last_seen", "last_health_check", "last_status_change")
_NONE_TIME = -1
"""A missing time in a snapshot's int64 column (a stored time is never negative)."""


def _fields(info: ServiceInfo) -> tuple[Any, ...]:
    """A record as plain data, in :class:`ServiceInfo`'s field order."""
    return (
        info.service_name,
        info.pod_name,
        info.address,
        info.port,
        info.health_check_url,
        info.notification_url,
        tuple(sorted(info.providers)),
        info.status.value,
        dict(info.metadata),
        info.registered_at,
        info.last_seen,
        info.last_health_check,
        info.last_status_change,
        info.origin.value,
    )


def _record(fields: tuple[Any, ...] | list[Any]) -> ServiceInfo:
    """The record :func:`_fields` made (validated again by its constructor)."""
    name, pod, address, port, health, notify, providers, status, meta, *times, origin = fields
    registered, seen, checked, changed = times
    return ServiceInfo(
        name,
        pod,
        address,
        port,
        health,
        notify,
        frozenset(providers),
        status,
        meta,
        registered,
        seen,
        checked,
        changed,
        origin,
    )


def save_payload(info: ServiceInfo) -> bytes | None:
    """The log record of saving ``info`` (None if it is not a ServiceInfo). The
    plain encoding costs ~25 µs a record here, ten times the store's own save, so
    a save encodes before taking the store's lock."""
    return plain.encode((SAVE, *_fields(info))) if type(info) is ServiceInfo else None


class RegistryLog:
    """A registry's link to its journal: logs changes, remembers the applied LSN.

    Not thread-safe by itself: the owning store calls it under its write lock
    (or from its owner thread). ``applied_lsn`` is the last LSN applied to the
    core, logged or replayed.
    """

    __slots__ = ("applied_lsn", "journal")

    def __init__(self) -> None:
        self.journal: Journal | None = None
        self.applied_lsn = 0

    def _append(self, change: tuple[Any, ...] | bytes) -> Pending:
        journal = self.journal
        if journal is None:
            return None
        payload = change if type(change) is bytes else plain.encode(change)
        try:
            lsn = journal.append(TABLE, payload)
        except (OSError, ValueError) as exc:
            raise LogUnavailable(f"registry change not logged, nothing changed: {exc}") from exc
        self.applied_lsn = lsn
        return journal, lsn

    def log_save(self, info: ServiceInfo, encoded: bytes | None = None) -> Pending:
        """Log storing ``info`` (a save, or the record a health update makes);
        ``encoded``: its :func:`save_payload`, made before the lock was taken."""
        if self.journal is None or type(info) is not ServiceInfo:
            return None  # not a ServiceInfo: the core's save refuses it next
        return self._append(encoded or (SAVE, *_fields(info)))

    def log_delete(self, core: RegistryCore, key: str) -> Pending:
        """Check that ``key`` exists (the core's errors) and log deleting it."""
        if self.journal is None:
            return None
        core.get(key)
        return self._append((DELETE, key))

    def log_subscribe(self, core: RegistryCore, subscriber: str, group: str) -> Pending:
        """Check the names; log the subscription unless it exists already."""
        if self.journal is None:
            return None
        parse_key(subscriber)
        _check_group(group)
        if subscriber in core.groups.get(group, ()):
            return None
        return self._append((SUBSCRIBE, subscriber, group))

    def log_unsubscribe(self, core: RegistryCore, subscriber: str, group: str) -> Pending:
        """Check the names; log ending the subscription if there is one."""
        if self.journal is None:
            return None
        parse_key(subscriber)
        _check_group(group)
        if subscriber not in core.groups.get(group, ()):
            return None
        return self._append((UNSUBSCRIBE, subscriber, group))

    def log_unsubscribe_all(self, core: RegistryCore, subscriber: str) -> Pending:
        """Check the key; log dropping its subscriptions if it has any."""
        if self.journal is None:
            return None
        parse_key(subscriber)
        if subscriber not in core.subscribed:
            return None
        return self._append((UNSUBSCRIBE_ALL, subscriber))

    def log_clear(self) -> Pending:
        return None if self.journal is None else self._append((CLEAR,))

    def replay(self, core: RegistryCore, lsn: int, payload: bytes) -> None:
        """Apply a logged change to ``core`` and remember ``lsn``; a record at or below
        the applied LSN is already in the state and is skipped. ValueError naming the
        LSN for a record that is not a registry change or does not apply. O(1)."""
        if lsn <= self.applied_lsn:
            return
        try:
            change = plain.decode(payload)
            if type(change) is not tuple or not change:
                raise ValueError(f"not a change tuple: {change!r:.80}")
            _apply(core, change)
        except (InferTraceError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"registry log record {lsn} does not apply: {exc}") from exc
        self.applied_lsn = lsn

    def capture(self, core: RegistryCore) -> dict[str, TableState]:
        """The core's state as the ``registry`` table (the caller holds the lock). O(n)."""
        services = [core.services[k] for k in sorted(core.services)]
        pairs = sorted((g, s) for g, subs in core.groups.items() for s in subs)
        cols: dict[str, Any] = {
            "service_name": [i.service_name for i in services],
            "pod_name": [i.pod_name for i in services],
            "address": [i.address for i in services],
            "port": np.array([i.port for i in services], dtype=np.int32),
            "health_check_url": [i.health_check_url for i in services],
            "notification_url": [i.notification_url for i in services],
            "providers": [tuple(sorted(i.providers)) for i in services],
            "status": [i.status.value for i in services],
            "metadata": [dict(i.metadata) for i in services],
            "origin": [i.origin.value for i in services],
        }
        for name in _TIMES:
            times = [getattr(i, name) for i in services]
            cols[name] = np.array([_NONE_TIME if t is None else t for t in times], np.int64)
        subs = {"group": [g for g, _ in pairs], "subscriber": [s for _, s in pairs]}
        meta = {APPLIED_LSN: self.applied_lsn, "format": FORMAT}
        return {TABLE: TableState(meta, {"services": cols, "subscriptions": subs})}

    def restore(self, states: Mapping[str, TableState]) -> RegistryCore:
        """A core rebuilt from a captured state (empty without one); sets the applied
        LSN. ValueError naming the problem if the state is unusable. O(n)."""
        state = states.get(TABLE)
        core = RegistryCore()
        if state is None:
            self.applied_lsn = 0
            return core
        try:
            if state.meta.get("format") != FORMAT:
                raise ValueError(f"format {state.meta.get('format')!r}, expected {FORMAT}")
            applied = state.meta[APPLIED_LSN]
            if type(applied) is not int or applied < 0:
                raise ValueError(f"{APPLIED_LSN} {applied!r} is not an LSN")
            cols = state.parts["services"]
            times = [cols[name] for name in _TIMES]
            for i in range(len(cols["service_name"])):
                core.save(
                    _record(
                        (
                            cols["service_name"][i],
                            cols["pod_name"][i],
                            cols["address"][i],
                            int(cols["port"][i]),
                            cols["health_check_url"][i],
                            cols["notification_url"][i],
                            cols["providers"][i],
                            cols["status"][i],
                            cols["metadata"][i],
                            *(None if int(t[i]) == _NONE_TIME else int(t[i]) for t in times),
                            cols["origin"][i],
                        )
                    )
                )
            subs = state.parts["subscriptions"]
            for group, subscriber in zip(subs["group"], subs["subscriber"], strict=True):
                core.subscribe(subscriber, group)
        except (InferTraceError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"registry snapshot state is unusable: {exc}") from exc
        self.applied_lsn = applied
        return core


def _apply(core: RegistryCore, change: tuple[Any, ...]) -> None:
    op, *args = change
    if op == SAVE:
        core.save(_record(args))
    elif op == DELETE:
        core.delete(*args)
    elif op == SUBSCRIBE:
        core.subscribe(*args)
    elif op == UNSUBSCRIBE:
        core.unsubscribe(*args)
    elif op == UNSUBSCRIBE_ALL:
        core.unsubscribe_all(*args)
    elif op == CLEAR and not args:
        core.clear()
    else:
        raise ValueError(f"unknown registry change {op!r} with {len(args)} arguments")


def wait(pending: Pending) -> None:
    """Wait until a logged change is durable (outside the store's lock), or leave it to
    an enclosing deferral (:func:`~infertrace.engine.journal.wait_for`: inside
    ``with DEFERRED_WAITS:`` it waits when the outermost block exits); a failed fsync
    is LogUnavailable: the change was applied but must not be acknowledged."""
    if pending is None:
        return
    journal, lsn = pending
    try:
        wait_for(journal, lsn)
    except OSError as exc:
        raise LogUnavailable(f"registry change {lsn} may not be durable: {exc}") from exc


class DeferredWaits(_journal.DeferredWaits):
    """The engine's :class:`~infertrace.engine.journal.DeferredWaits` (``with
    DEFERRED_WAITS, lock:``: wait once the lock is released), a failed wait raised as
    LogUnavailable like :func:`wait`'s."""

    __slots__ = ()

    def failure(self, lsn: int, error: OSError) -> Exception:
        failed = LogUnavailable(f"registry change {lsn} may not be durable: {error}")
        failed.__cause__ = error
        return failed


DEFERRED_WAITS = DeferredWaits()
"""The one instance (its state is per thread, shared with the engine's deferral)."""


__all__ = [
    "DEFERRED_WAITS",
    "TABLE",
    "DeferredWaits",
    "Pending",
    "RegistryLog",
    "save_payload",
    "wait",
]
