"""``infertrace activity import-git|import-roster|generate``: feeding a server's activity store.

Each command turns its source into activity records and posts them in batches
(``/api/activity/{kind}/batch``) with a progress bar on standard error:

- ``import-git`` reads repositories with :mod:`infertrace.activity.gitlog`,
  oldest commit first, and posts each batch's new authors before its commits,
  both with ``on_conflict=skip``: a re-import stores nothing twice and says so.
- ``import-roster`` reads :mod:`infertrace.activity.roster` CSV and posts the
  developers with ``on_conflict=replace`` (ids from the email, so they meet the
  git and agent feeds); a developer already stored keeps its ``created_at``.
- ``generate`` posts :func:`infertrace.activity.generate.generate`'s synthetic
  population ending on a given day (today by default), with ids from the
  emails and record ids that carry the seed, so a rerun with the same seed adds
  nothing and another seed adds a second population's activity.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from infertrace.activity import gitlog
from infertrace.activity.generate import generate as populate
from infertrace.activity.identity import developer_id_for
from infertrace.activity.records import DAY_NS
from infertrace.activity.records import Record as ActivityRecord
from infertrace.activity.roster import developer_of, read_roster
from infertrace.api.client import JSON, ActivityKind, ApiClient, OnConflict
from infertrace.cli.query import _api, api_options, echo_json, json_option, number_table
from infertrace.errors import InvalidParameter

BATCH = 5_000
"""Records per POST: ~1 MB of JSON, well under the server's 100,000-record cap."""
OWNERS: dict[str, ActivityKind] = {
    "commits": "developers", "changes": "developers", "sessions": "developers",
}  # fmt: skip
"""Kinds whose records name a developer: their queued developers are posted first."""
batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=BATCH,
    show_default=True,
    help="Records per request.",
)
"""``--batch-size``, of the commands that post in batches."""


def record_json(record: ActivityRecord) -> JSON:
    """A record as the API's JSON: its fields by name, enums as their values."""
    out: JSON = {}
    for f in _fields(type(record)):
        value = getattr(record, f)
        out[f] = value.value if isinstance(value, enum.Enum) else value
    return out


def _fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


@dataclass(slots=True)
class Tally:
    """What the server did with the records of one kind."""

    inserted: int = 0
    skipped: int = 0
    replaced: int = 0

    def add(self, answer: JSON) -> None:
        self.inserted += answer["inserted"]
        self.skipped += answer["skipped"]
        self.replaced += answer["replaced"]


@dataclass(slots=True)
class Poster:
    """Posts records of each kind in batches of ``size``; tallies the answers."""

    api: ApiClient
    on_conflict: OnConflict
    size: int = BATCH
    tallies: dict[str, Tally] = field(default_factory=dict)
    pending: dict[str, list[JSON]] = field(default_factory=dict)

    def add(self, kind: ActivityKind, record: ActivityRecord) -> None:
        """Queue ``record``; post the kind's batch when it is full."""
        queue = self.pending.setdefault(kind, [])
        queue.append(record_json(record))
        if len(queue) >= self.size:
            self.flush(kind)

    def flush(self, kind: ActivityKind) -> None:
        """Post what is queued of ``kind`` (after the developers it names)."""
        if kind in OWNERS:
            self.flush(OWNERS[kind])
        queue = self.pending.get(kind)
        if queue:
            answer = self.api.activity_batch(kind, queue, self.on_conflict)
            self.tallies.setdefault(kind, Tally()).add(answer)
            queue.clear()


def progress_bar(console: Console) -> Progress:
    """A bar on standard error, shown only on a terminal."""
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(),
    )  # fmt: skip
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


def tallies_json(tallies: dict[str, Tally]) -> JSON:
    """``{kind: {"inserted", "skipped", "replaced"}}``."""
    return {kind: dataclasses.asdict(t) for kind, t in tallies.items()}


def tally_table(tallies: dict[str, Tally], extra: Sequence[tuple[str, int]] = ()) -> Table:
    """One row per kind: inserted, skipped (already stored), replaced."""
    table = number_table("records", ("inserted", "skipped", "replaced"))
    for kind, t in tallies.items():
        table.add_row(kind, f"{t.inserted:,}", f"{t.skipped:,}", f"{t.replaced:,}")
    for name, count in extra:
        table.add_row(name, "", f"{count:,}", "")
    return table


@dataclass(slots=True)
class GitImport:
    """The state of one ``import-git`` run across its repositories."""

    poster: Poster
    developers: set[str] = field(default_factory=set)
    shas: set[str] = field(default_factory=set)
    repeated: int = 0
    """Commits met again (the same sha in another path): posted once."""
    unusable: list[str] = field(default_factory=list)
    """Commits whose author email is not an address (not importable)."""

    def add(self, commit: gitlog.GitCommit, repo: str) -> None:
        if commit.sha in self.shas:
            self.repeated += 1
            return
        try:
            record = gitlog.commit_record(commit, repo)
        except InvalidParameter as exc:
            self.unusable.append(f"{commit.sha[:12]} in {repo}: {exc}")
            return
        self.shas.add(commit.sha)
        if record.developer_id not in self.developers:
            self.developers.add(record.developer_id)
            # Oldest first: a developer is created at their first commit of the range.
            self.poster.add("developers", gitlog.developer_record(commit))
        self.poster.add("commits", record)

    def flush(self) -> None:
        self.poster.flush("commits")


@click.command("import-git")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--since", help="Only commits after this date (git's forms: 2024-01-01, '2 weeks ago')."
)
@click.option(
    "--repo-name",
    help="Repo name stored with the commits (default: each repository's directory name).",
)
@click.option(
    "--all-branches",
    is_flag=True,
    help="Every local and remote branch and tag, not only HEAD's history.",
)
@batch_size_option
@api_options
@json_option
def import_git(
    paths: tuple[Path, ...], since: str | None, repo_name: str | None, all_branches: bool,
    batch_size: int, url: str, token: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Import the commits of git repositories: author, time, lines added and removed,
    and the AI tool a co-author trailer names. Idempotent: commits and developers
    already stored are skipped."""
    err = Console(stderr=True)
    try:
        repos = [(p, repo_name or gitlog.repo_name(p)) for p in paths]
        totals = [gitlog.count_commits(p, since, all_branches) for p, _ in repos]
    except InvalidParameter as exc:
        raise click.ClickException(exc.message) from None
    with _api(url, token, timeout=120.0) as api, progress_bar(err) as progress:
        run = GitImport(Poster(api, "skip", batch_size))
        for (path, name), total in zip(repos, totals, strict=True):
            task = progress.add_task(f"{name}: commits", total=total)
            try:
                for commit in gitlog.read_commits(path, since, all_branches, oldest_first=True):
                    run.add(commit, name)
                    progress.advance(task)
            except InvalidParameter as exc:
                raise click.ClickException(exc.message) from None
            run.flush()
    if as_json:
        doc = tallies_json(run.poster.tallies)
        echo_json({**doc, "repeated_commits": run.repeated, "unusable": run.unusable})
        return
    extra = [("repeated commits", run.repeated), ("unusable authors", len(run.unusable))]
    Console().print(tally_table(run.poster.tallies, [(n, c) for n, c in extra if c]))
    for line in run.unusable[:10]:
        err.print(f"[yellow]not imported:[/yellow] {line}", highlight=False)


def _created_at(api: ApiClient, ids: set[str]) -> dict[str, int]:
    """``created_at`` of the stored developers among ``ids`` (paged, 10,000 at a time)."""
    found: dict[str, int] = {}
    offset = 0
    while True:
        page = api.activity_list("developers", limit=10_000, offset=offset)
        for item in page["items"]:
            if item["id"] in ids:
                found[item["id"]] = item["created_at"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return found


@click.command("import-roster")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@api_options
@json_option
def import_roster(file: Path, url: str, token: str | None, as_json: bool) -> None:
    """Create or update developers from a CSV roster with the columns email, name,
    region, division and team (any order; other columns ignored)."""
    try:
        entries = read_roster(file)
    except InvalidParameter as exc:
        raise click.ClickException(exc.message) from None
    now = time.time_ns()
    err = Console(stderr=True)
    with _api(url, token, timeout=120.0) as api, progress_bar(err) as progress:
        created = _created_at(api, {e.developer_id for e in entries})
        poster = Poster(api, "replace")
        task = progress.add_task("developers", total=len(entries))
        for entry in entries:
            poster.add("developers", developer_of(entry, created.get(entry.developer_id, now)))
            progress.advance(task)
        poster.flush("developers")
    t = poster.tallies.get("developers", Tally())
    if as_json:
        echo_json({"rows": len(entries), "created": t.inserted, "updated": t.replaced})
        return
    Console().print(
        f"{len(entries):,} roster rows: {t.inserted:,} developers created, {t.replaced:,} updated",
        highlight=False,
    )


def _day(text: str | None) -> int:
    if text is None:
        return time.time_ns() // DAY_NS
    try:
        parsed = date.fromisoformat(text)
    except ValueError:
        message = f"{text!r} is not a day YYYY-MM-DD"
        raise click.BadParameter(message, param_hint="--last-day") from None
    return (parsed - date(1970, 1, 1)).days


def population(
    developers: int, days: int, seed: int, last_day: int, commits: int, changes: int,
    sessions: int,
) -> Iterable[tuple[ActivityKind, list[ActivityRecord]]]:  # fmt: skip
    """The generator's records per kind, developer ids from their emails and change
    and session ids carrying the seed."""
    made = populate(
        developers, days, commits=commits, changes=changes, sessions=sessions, seed=seed,
        first_day=last_day - days + 1,
    )  # fmt: skip
    ids = {d.id: developer_id_for(d.email) for d in made.developers}
    replace = dataclasses.replace
    yield "developers", [replace(d, id=ids[d.id]) for d in made.developers]
    yield "commits", [replace(c, developer_id=ids[c.developer_id]) for c in made.commits]
    yield "changes", [replace(c, id=f"s{seed}-{c.id}", developer_id=ids[c.developer_id])
                      for c in made.changes]  # fmt: skip
    yield "sessions", [replace(s, id=f"s{seed}-{s.id}", developer_id=ids[s.developer_id])
                       for s in made.sessions]  # fmt: skip


@click.command()
@click.option(
    "--developers",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Developers (emails devN@example.com).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 3660),
    default=30,
    show_default=True,
    help="Days of activity, ending on --last-day.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--last-day", metavar="YYYY-MM-DD", help="Last day of activity (default: today).")
@click.option(
    "--commits",
    type=click.IntRange(min=0),
    help="Commits in all (default: one per developer per day).",
)
@click.option(
    "--changes",
    type=click.IntRange(min=0),
    help="Agent and manual changes in all (default: three per commit).",
)
@click.option(
    "--sessions",
    type=click.IntRange(min=0),
    help="Agent sessions in all (default: one per developer every other day).",
)
@batch_size_option
@api_options
@json_option
def generate(
    developers: int, days: int, seed: int, last_day: str | None, commits: int | None,
    changes: int | None, sessions: int | None, batch_size: int, url: str, token: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Post a synthetic, reproducible population of developers and their activity
    (skewed activity, per-developer agent adoption, ~70% of agent edits accepted)."""
    n_commits = developers * days if commits is None else commits
    n_changes = 3 * n_commits if changes is None else changes
    n_sessions = developers * days // 2 if sessions is None else sessions
    made = list(population(developers, days, seed, _day(last_day), n_commits, n_changes,
                           n_sessions))  # fmt: skip
    err = Console(stderr=True)
    with _api(url, token, timeout=120.0) as api, progress_bar(err) as progress:
        poster = Poster(api, "skip", batch_size)
        task = progress.add_task("records", total=sum(len(r) for _, r in made))
        for kind, records in made:
            for record in records:
                poster.add(kind, record)
                progress.advance(task)
            poster.flush(kind)
    if as_json:
        echo_json(tallies_json(poster.tallies))
        return
    Console().print(tally_table(poster.tallies))


IMPORT_COMMANDS: tuple[click.Command, ...] = (import_git, import_roster, generate)
"""The feeding commands, added to the ``activity`` group."""
