"""The activity records: developers, their commits, their changes and agent sessions.

Frozen and slotted, validated on construction (InvalidParameter naming the field
and value), so a store can hand out the records it holds. Times are unix
nanoseconds (UTC); a day is ``time // DAY_NS``, the UTC day number. Strings that
repeat across many records (ids a record points at, team, repo, tool, language)
are interned on construction, so a million commits of 100,000 developers share
100,000 id strings; ``Region`` and ``ChangeKind`` members are singletons.
"""

from __future__ import annotations

import enum
import math
import sys
from dataclasses import dataclass

from infertrace.errors import InvalidParameter

DAY_NS = 86_400 * 1_000_000_000
"""Nanoseconds in a (UTC) day."""

INT64_MAX = 2**63 - 1
"""The largest time or count a record holds: the store keeps them in int64 columns."""

_intern = sys.intern
_set = object.__setattr__


class Region(enum.StrEnum):
    """Where a developer works."""

    US = "US"
    EU = "EU"
    APAC = "APAC"
    OTHER = "other"


class ChangeKind(enum.StrEnum):
    """Who made a change: a coding agent's edit, or the developer by hand."""

    AGENT_EDIT = "agent_edit"
    MANUAL = "manual"


def day_of(time_unix_nano: int) -> int:
    """The UTC day number of a time (days since 1970-01-01)."""
    return time_unix_nano // DAY_NS


def _text(record: object, name: str, *, empty: bool = False, intern: bool = False) -> None:
    value = getattr(record, name)
    if type(value) is not str or (not empty and not value):
        need = "a string" if empty else "a non-empty string"
        raise InvalidParameter(name, f"{name} {value!r} must be {need}")
    if intern:
        _set(record, name, _intern(value))


def _optional_text(record: object, name: str) -> None:
    value = getattr(record, name)
    if value is not None:
        _text(record, name, intern=True)


def _count(record: object, name: str) -> None:
    value = getattr(record, name)
    if type(value) is not int or not 0 <= value <= INT64_MAX:
        raise InvalidParameter(name, f"{name} {value!r} must be an int from 0 to 2**63-1")


def _time(record: object, name: str) -> None:
    value = getattr(record, name)
    if type(value) is not int or not 0 <= value <= INT64_MAX:
        raise InvalidParameter(
            name, f"{name} {value!r} must be unix nanoseconds (an int from 0 to 2**63-1)"
        )


def _flag(record: object, name: str) -> None:
    value = getattr(record, name)
    if type(value) is not bool:
        raise InvalidParameter(name, f"{name} {value!r} must be true or false")


def _member(record: object, name: str, enum_type: type[enum.StrEnum]) -> None:
    value = getattr(record, name)
    if type(value) is enum_type:
        return
    member = _MEMBERS[enum_type].get(value) if type(value) is str else None
    if member is None:
        allowed = ", ".join(m.value for m in enum_type)
        raise InvalidParameter(name, f"{name} {value!r} is not one of {allowed}")
    _set(record, name, member)


_MEMBERS: dict[type[enum.StrEnum], dict[str, enum.StrEnum]] = {
    e: {m.value: m for m in e} for e in (Region, ChangeKind)
}
"""Value -> member: a dict lookup, several times cheaper than calling the enum."""
_KINDS: dict[object, ChangeKind] = {**{m.value: m for m in ChangeKind}}


@dataclass(frozen=True, slots=True)
class Developer:
    """A developer. ``email`` is unique, stored lower-cased; ``region`` accepts a
    Region or its value."""

    id: str
    email: str
    name: str = ""
    region: Region = Region.OTHER
    division: str = ""
    team: str = ""
    created_at: int = 0

    def __post_init__(self) -> None:
        _text(self, "id", intern=True)
        email = self.email
        if type(email) is not str or email.count("@") != 1 or email.strip() != email:
            raise InvalidParameter("email", f"email {email!r} must be one address like a@b.org")
        local, _, domain = email.partition("@")
        if not local or not domain:
            raise InvalidParameter("email", f"email {email!r} must be one address like a@b.org")
        _set(self, "email", email.lower())
        _text(self, "name", empty=True)
        _member(self, "region", Region)
        _text(self, "division", empty=True, intern=True)
        _text(self, "team", empty=True, intern=True)
        _time(self, "created_at")


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit by ``developer_id``. ``sha`` is hex (7 to 64 digits, stored
    lower-cased); ``ai_tool`` (the agent named by a co-author trailer, say) implies
    ``ai_assisted``."""

    sha: str
    developer_id: str
    repo: str
    timestamp: int
    additions: int = 0
    deletions: int = 0
    ai_assisted: bool = False
    ai_tool: str | None = None

    def __post_init__(self) -> None:
        # The common case checked in one expression (a third of the cost of the
        # field-by-field path below, which runs otherwise to name the bad field).
        sha, dev, repo, tool = self.sha, self.developer_id, self.repo, self.ai_tool
        if (
            type(sha) is str and 7 <= len(sha) <= 64 and _LOWER_HEX.issuperset(sha)
            and type(dev) is str and dev and type(repo) is str and repo
            and type(self.timestamp) is int and 0 <= self.timestamp <= INT64_MAX
            and type(self.additions) is int and 0 <= self.additions <= INT64_MAX
            and type(self.deletions) is int and 0 <= self.deletions <= INT64_MAX
            and type(self.ai_assisted) is bool
            and (tool is None or (self.ai_assisted and type(tool) is str and tool))
        ):  # fmt: skip
            _set(self, "developer_id", _intern(dev))
            _set(self, "repo", _intern(repo))
            if tool is not None:
                _set(self, "ai_tool", _intern(tool))
            return
        self._check_fields()

    def _check_fields(self) -> None:
        sha = self.sha
        if type(sha) is not str or not 7 <= len(sha) <= 64 or not _is_hex(sha):
            raise InvalidParameter("sha", f"sha {sha!r} must be 7 to 64 hex digits")
        if not sha.islower():
            _set(self, "sha", sha.lower())
        _text(self, "developer_id", intern=True)
        _text(self, "repo", intern=True)
        _time(self, "timestamp")
        _count(self, "additions")
        _count(self, "deletions")
        _flag(self, "ai_assisted")
        _optional_text(self, "ai_tool")
        if self.ai_tool is not None and not self.ai_assisted:
            raise InvalidParameter(
                "ai_tool", f"ai_tool {self.ai_tool!r} needs ai_assisted true (it is false)"
            )


@dataclass(frozen=True, slots=True)
class Change:
    """One change to code: an agent's edit (accepted or rejected by the developer) or
    a manual one; ``commit_sha`` when it is known to have landed in a commit."""

    id: str
    developer_id: str
    timestamp: int
    kind: ChangeKind = ChangeKind.AGENT_EDIT
    tool: str = ""
    language: str = ""
    lines_added: int = 0
    lines_removed: int = 0
    accepted: bool = True
    commit_sha: str | None = None

    def __post_init__(self) -> None:
        dev, tool, language, sha = self.developer_id, self.tool, self.language, self.commit_sha
        kind = _KINDS.get(self.kind) if type(self.kind) in (str, ChangeKind) else None
        if (
            kind is not None and type(self.id) is str and self.id
            and type(dev) is str and dev and type(tool) is str and type(language) is str
            and type(self.timestamp) is int and 0 <= self.timestamp <= INT64_MAX
            and type(self.lines_added) is int and 0 <= self.lines_added <= INT64_MAX
            and type(self.lines_removed) is int and 0 <= self.lines_removed <= INT64_MAX
            and type(self.accepted) is bool
            and (sha is None or (type(sha) is str and 7 <= len(sha) <= 64
                                 and _LOWER_HEX.issuperset(sha)))
        ):  # fmt: skip
            _set(self, "kind", kind)
            _set(self, "developer_id", _intern(dev))
            _set(self, "tool", _intern(tool))
            _set(self, "language", _intern(language))
            if sha is not None:
                _set(self, "commit_sha", _intern(sha))
            return
        self._check_fields()

    def _check_fields(self) -> None:
        _text(self, "id")
        _text(self, "developer_id", intern=True)
        _time(self, "timestamp")
        _member(self, "kind", ChangeKind)
        _text(self, "tool", empty=True, intern=True)
        _text(self, "language", empty=True, intern=True)
        _count(self, "lines_added")
        _count(self, "lines_removed")
        _flag(self, "accepted")
        sha = self.commit_sha
        if sha is not None:
            if type(sha) is not str or not 7 <= len(sha) <= 64 or not _is_hex(sha):
                raise InvalidParameter(
                    "commit_sha", f"commit_sha {sha!r} must be None or 7 to 64 hex digits"
                )
            _set(self, "commit_sha", _intern(sha.lower()))


@dataclass(frozen=True, slots=True)
class Session:
    """One coding-agent session: who, which tool, when, the tokens it used and what
    it cost (US dollars)."""

    id: str
    developer_id: str
    tool: str
    started_at: int
    ended_at: int
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def __post_init__(self) -> None:
        _text(self, "id")
        _text(self, "developer_id", intern=True)
        _text(self, "tool", intern=True)
        _time(self, "started_at")
        _time(self, "ended_at")
        if self.ended_at < self.started_at:
            raise InvalidParameter(
                "ended_at", f"ended_at {self.ended_at} is before started_at {self.started_at}"
            )
        _count(self, "input_tokens")
        _count(self, "output_tokens")
        cost = self.cost_usd
        if type(cost) is int:
            _set(self, "cost_usd", float(cost))
        elif type(cost) is not float or not math.isfinite(cost) or cost < 0:
            raise InvalidParameter("cost_usd", f"cost_usd {cost!r} must be a finite number >= 0")

    @property
    def tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens


Record = Developer | Commit | Change | Session
"""Any activity record."""

_HEX = frozenset("0123456789abcdefABCDEF")
_LOWER_HEX = frozenset("0123456789abcdef")


def _is_hex(text: str) -> bool:
    return _HEX.issuperset(text)
