"""The activity API's request and response bodies, as Pydantic models.

They exist so ``/openapi.json`` describes every field of the ``/api/activity``
routes. A record's JSON is its dataclass's fields by name (enums as their values,
times as unix nanoseconds); the record models are strict (no "1" for 1, no
unknown fields) so a body the schema forbids is refused before it reaches the
store, whose records check the rest (an email's shape, a sha's digits) and name
the field. Handlers answer large pages with plain dicts (see :mod:`.responses`)
and declare these models for the document.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from infertrace.activity.aggregations import METRICS

RegionName = Literal["US", "EU", "APAC", "other"]
ChangeKindName = Literal["agent_edit", "manual"]
Ns = Field(ge=0, description="Unix nanoseconds (UTC)")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DeveloperRecord(_Record):
    """A developer; ``email`` is unique (stored lower-cased)."""

    id: str = Field(min_length=1)
    email: str = Field(min_length=3, description="One address like a@b.org")
    name: str = ""
    region: RegionName = "other"
    division: str = ""
    team: str = ""
    created_at: int = Field(0, ge=0, description="Unix nanoseconds (UTC)")


class CommitRecord(_Record):
    """A commit; ``ai_tool`` (the agent a co-author trailer names) needs ``ai_assisted``."""

    sha: str = Field(pattern=r"^[0-9a-fA-F]{7,64}$")
    developer_id: str = Field(min_length=1)
    repo: str = Field(min_length=1)
    timestamp: int = Ns
    additions: int = Field(0, ge=0)
    deletions: int = Field(0, ge=0)
    ai_assisted: bool = False
    ai_tool: str | None = Field(None, min_length=1)


class ChangeRecord(_Record):
    """A change: a coding agent's edit (accepted or rejected) or a manual one."""

    id: str = Field(min_length=1)
    developer_id: str = Field(min_length=1)
    timestamp: int = Ns
    kind: ChangeKindName = "agent_edit"
    tool: str = ""
    language: str = ""
    lines_added: int = Field(0, ge=0)
    lines_removed: int = Field(0, ge=0)
    accepted: bool = True
    commit_sha: str | None = Field(None, pattern=r"^[0-9a-fA-F]{7,64}$")


class SessionRecord(_Record):
    """A coding-agent session: who, which tool, when, tokens and cost (US dollars)."""

    id: str = Field(min_length=1)
    developer_id: str = Field(min_length=1)
    tool: str = Field(min_length=1)
    started_at: int = Ns
    ended_at: int = Ns
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    cost_usd: float = Field(0.0, ge=0)


RECORD_MODELS: dict[str, type[_Record]] = {
    "developers": DeveloperRecord,
    "commits": CommitRecord,
    "changes": ChangeRecord,
    "sessions": SessionRecord,
}
"""The record model of each kind (plural name, as in the paths)."""


def _page(name: str, record: type[_Record]) -> type[BaseModel]:
    fields: dict[str, object] = {
        "items": (list[record], ...),  # type: ignore[valid-type]
        "total": (int, Field(description="Records matching the filters")),
        "limit": (int, ...),
        "offset": (int, ...),
    }
    return create_model(name, __doc__=f"One page of {record.__name__}s.", **fields)  # type: ignore[call-overload,no-any-return]


PAGE_MODELS: dict[str, type[BaseModel]] = {
    kind: _page(model.__name__.replace("Record", "Page"), model)
    for kind, model in RECORD_MODELS.items()
}


class CommitRange(BaseModel):
    """Commits in a time range, oldest first."""

    items: list[CommitRecord]


class Batch(BaseModel):
    """Records of one kind to insert together (all or none)."""

    records: list[Any] = Field(
        description="Record objects, at most 100,000 (each checked on its own; the limit "
        "is checked by the route, so a refusal does not echo the records back)"
    )


class BatchResult(BaseModel):
    """What a batch did: new records, records kept (skip) and overwritten (replace)."""

    inserted: int
    skipped: int
    replaced: int


class BatchProblem(BaseModel):
    """Why one record of a batch was refused."""

    index: int
    field: str | None
    reason: str


class BatchRefused(BaseModel):
    """A refused batch: nothing was stored; ``errors`` names every failing record. (A
    body that is not ``{"records": [...]}`` at all gets the usual validation-error
    list as ``detail``.)"""

    detail: str | list[dict[str, Any]]
    errors: list[BatchProblem] = []


class Metrics(BaseModel):
    """Activity over some records; ratios are 0 when their denominator is 0."""

    active_developers: int
    commits: int
    ai_assisted_commits: int
    ai_commit_share: float = Field(description="AI-assisted commits / commits")
    agent_edits: int
    accepted_edits: int
    acceptance_rate: float = Field(description="Accepted agent edits / agent edits")
    agent_lines_added: int = Field(description="Lines added by accepted agent edits")
    manual_changes: int
    sessions: int
    tokens: int
    cost_usd: float


class Day(Metrics):
    """The metrics of one UTC day."""

    day: str = Field(description="YYYY-MM-DD (UTC)")


class DailySeries(BaseModel):
    """One entry per day of the range, days without activity included."""

    days: list[Day]


class DeveloperDays(BaseModel):
    """A developer and their metrics on each day they were active in the range."""

    developer: DeveloperRecord
    days: list[Day]


class Group(Metrics):
    """A region's or team's metrics over the range; ``developers`` is its headcount."""

    group: str
    developers: int


class GroupStats(BaseModel):
    """Every group, by name."""

    groups: list[Group]


class LeaderboardEntry(Metrics):
    """One place: rank from 1, the key ranked (developer id, team or region), a display
    name and the value of the ranked metric."""

    rank: int
    key: str
    name: str
    value: float


class Leaderboard(BaseModel):
    """Ranked descending by ``metric``, ties broken by key."""

    metric: str
    by: Literal["developer", "team", "region"]
    entries: list[LeaderboardEntry]


class Orphan(BaseModel):
    """A record whose developer is not stored."""

    kind: str
    key: str
    developer_id: str


class MissingCommit(BaseModel):
    """A change naming a commit that is not stored."""

    change_id: str
    commit_sha: str


class Consistency(BaseModel):
    """What the consistency check found (lists capped at ``limit`` findings each;
    ``totals`` counts them all)."""

    ok: bool
    counts: dict[str, int]
    orphans: list[Orphan]
    missing_commits: list[MissingCommit]
    duplicates: list[str] = Field(description="Repeated or misplaced keys, and shared emails")
    drift: list[str] = Field(description="Indexes that disagree with the rows")
    totals: dict[str, int]
    summary: list[str]


class Repair(BaseModel):
    """What the repair did, and the check afterwards."""

    actions: list[str]
    after: Consistency


class KindMemory(BaseModel):
    """Measured memory of one record type."""

    count: int
    data_bytes: int
    index_bytes: int
    total_bytes: int
    bytes_per_record: float
    limit: int | None


class Memory(BaseModel):
    """Per record type (plural names)."""

    kinds: dict[str, KindMemory]


class Snapshot(BaseModel):
    """A snapshot file in the server's activity snapshot directory."""

    name: str
    bytes: int
    records: int | None = Field(description="Records it holds (null when only listed)")
    counts: dict[str, int] | None = None
    sha256: str | None = Field(description="Checksum of its payload (null if unreadable)")
    created: int = Field(description="Unix nanoseconds")


class Snapshots(BaseModel):
    """Snapshot files, newest first."""

    directory: str
    snapshots: list[Snapshot]


METRIC_NAMES: tuple[str, ...] = METRICS
"""The metric names a leaderboard ranks by (every :class:`Metrics` field)."""
