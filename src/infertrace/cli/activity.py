"""``infertrace activity ...``: the activity database of a running server.

Listing (``developers``, ``commits``, ``changes``, ``sessions`` with field
filters and paging), one record (``show``), metrics per day (``daily``), per
region or team (``stats``), rankings (``leaderboard``), ``consistency``,
``memory`` and ``snapshot``; the feeds (``import-git``, ``import-roster``,
``generate``) are in :mod:`~infertrace.cli.activity_import`. Every command talks
to the server's ``/api/activity`` routes through :class:`ApiClient` (``--url``,
``--token`` and their environment variables as the other query commands) and
prints rich tables, or the API's JSON with ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import click
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table
from rich.text import Text

from infertrace.api.client import JSON, ActivityKind, RankedBy
from infertrace.cli.activity_import import IMPORT_COMMANDS
from infertrace.cli.query import _api, api_options, echo_json, json_option, number_table

KINDS: tuple[ActivityKind, ...] = ("developers", "commits", "changes", "sessions")
METRIC_COLUMNS = (
    ("active_developers", "active", ","), ("commits", "commits", ","),
    ("ai_assisted_commits", "AI commits", ","), ("ai_commit_share", "AI share", ".1%"),
    ("agent_edits", "agent edits", ","), ("acceptance_rate", "accepted", ".1%"),
    ("agent_lines_added", "agent lines", ","), ("sessions", "sessions", ","),
    ("tokens", "tokens", ","), ("cost_usd", "cost $", ",.2f"),
)  # fmt: skip
"""The metric fields shown in tables: field, column header, number format."""


def when(unix_nano: int | None) -> str:
    """Unix nanoseconds as ``YYYY-MM-DD HH:MM:SS`` UTC; empty for None."""
    if unix_nano is None:
        return ""
    return datetime.fromtimestamp(unix_nano // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def lasted(start: int, end: int) -> str:
    """A duration between two unix-ns times as ``1h02m`` or ``45s``."""
    seconds = max(0, end - start) // 1_000_000_000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (
        f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
    )


Column = tuple[str, Callable[[JSON], str | Text], bool]
"""A table column: header, cell from a record, right-justified."""

COLUMNS: dict[str, list[Column]] = {
    "developers": [
        ("id", lambda r: r["id"], False), ("email", lambda r: r["email"], False),
        ("name", lambda r: r["name"], False), ("region", lambda r: r["region"], False),
        ("division", lambda r: r["division"], False), ("team", lambda r: r["team"], False),
        ("created (UTC)", lambda r: when(r["created_at"]), False),
    ],
    "commits": [
        ("sha", lambda r: r["sha"][:12], False),
        ("time (UTC)", lambda r: when(r["timestamp"]), False),
        ("developer", lambda r: r["developer_id"], False), ("repo", lambda r: r["repo"], False),
        ("+", lambda r: f"{r['additions']:,}", True), ("-", lambda r: f"{r['deletions']:,}", True),
        ("AI", lambda r: Text(r["ai_tool"] or ("yes" if r["ai_assisted"] else ""), "cyan"), False),
    ],
    "changes": [
        ("id", lambda r: r["id"], False), ("time (UTC)", lambda r: when(r["timestamp"]), False),
        ("developer", lambda r: r["developer_id"], False), ("kind", lambda r: r["kind"], False),
        ("tool", lambda r: r["tool"], False), ("language", lambda r: r["language"], False),
        ("+", lambda r: f"{r['lines_added']:,}", True),
        ("-", lambda r: f"{r['lines_removed']:,}", True),
        ("accepted", lambda r: Text("yes", "green") if r["accepted"] else Text("no", "red"), False),
        ("commit", lambda r: (r["commit_sha"] or "")[:12], False),
    ],
    "sessions": [
        ("id", lambda r: r["id"], False), ("developer", lambda r: r["developer_id"], False),
        ("tool", lambda r: r["tool"], False),
        ("start (UTC)", lambda r: when(r["started_at"]), False),
        ("lasted", lambda r: lasted(r["started_at"], r["ended_at"]), True),
        ("tokens in", lambda r: f"{r['input_tokens']:,}", True),
        ("tokens out", lambda r: f"{r['output_tokens']:,}", True),
        ("cost $", lambda r: f"{r['cost_usd']:,.4f}", True),
    ],
}  # fmt: skip
"""The table of each kind."""

FILTERS: dict[str, list[tuple[str, str, str]]] = {
    "developers": [("--email", "email", "Email address."), ("--region", "region",
                   "US, EU, APAC or other."), ("--division", "division", "Division."),
                   ("--team", "team", "Team.")],
    "commits": [("--developer", "developer_id", "Developer id."), ("--repo", "repo", "Repo."),
                ("--ai-tool", "ai_tool", "AI tool named by the commit (claude-code, ...).")],
    "changes": [("--developer", "developer_id", "Developer id."), ("--kind", "kind",
                "agent_edit or manual."), ("--tool", "tool", "Coding agent."),
                ("--language", "language", "Language."), ("--commit", "commit_sha",
                "Commit sha the change landed in.")],
    "sessions": [("--developer", "developer_id", "Developer id."), ("--tool", "tool",
                 "Coding agent.")],
}  # fmt: skip
"""Named equality filters of each kind: option, record field, help."""
FLAGS = {
    "commits": ("ai_assisted", "--ai/--no-ai", "Only AI-assisted / only other commits."),
    "changes": ("accepted", "--accepted/--rejected", "Only accepted / rejected changes."),
}
"""Boolean filters: record field, option pair, help."""


def records_table(kind: str, items: list[JSON], title: str | None = None) -> Table:
    """The table of ``items`` of ``kind``."""
    table = Table(title=title, title_justify="left")
    for header, _, right in COLUMNS[kind]:
        table.add_column(header, justify="right" if right else "left", no_wrap=header == "sha")
    for item in items:
        table.add_row(*(cell(item) for _, cell, _ in COLUMNS[kind]))
    return table


def _where(items: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--where")
        found[key] = value
    return found


def _list_command(kind: ActivityKind) -> click.Command:
    """The listing command of ``kind``: its named filters, ``--where``, a time
    window and paging."""
    fields = {opt.lstrip("-").replace("-", "_"): field for opt, field, _ in FILTERS[kind]}
    options = [click.option(opt, help=text) for opt, _, text in FILTERS[kind]]
    if kind in FLAGS:
        field, decl, text = FLAGS[kind]
        fields[decl.split("/")[0].lstrip("-")] = field
        options.append(click.option(decl, default=None, help=text))

    def run(
        url: str, token: str | None, as_json: bool, where: tuple[str, ...], limit: int,
        offset: int, since: str | None, until: str | None, **named: Any,
    ) -> None:  # fmt: skip
        filters: dict[str, str | int | bool] = {**_where(where)}
        filters.update({fields[k]: v for k, v in named.items() if v is not None})
        with _api(url, token) as api:
            doc = api.activity_list(kind, filters, limit, offset, since, until)
        if as_json:
            echo_json(doc)
            return
        console = Console()
        console.print(records_table(kind, doc["items"]))
        shown = len(doc["items"])
        first = doc["offset"] + 1 if shown else 0
        console.print(
            f"{kind} {first:,}-{doc['offset'] + shown:,} of {doc['total']:,}", highlight=False
        )

    options += [
        click.option("--where", multiple=True, metavar="FIELD=VALUE",
                     help="Any record field equals value. Repeatable."),
        click.option("--since", help="Time from: RFC 3339, unix ns, or 7d/1h ago."),
        click.option("--until", help="Time before (excluded), same forms as --since."),
        click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
                     help="Most records shown."),
        click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Records skipped first."),
        api_options,
        json_option,
    ]  # fmt: skip
    run.__doc__ = f"List {kind} (by key), filtered and paged."
    decorated: Callable[..., None] = run
    for option in reversed(options):
        decorated = option(decorated)
    return click.command(kind)(decorated)


def metrics_table(rows: list[JSON], first: tuple[str, str], extra: tuple[str, ...] = ()) -> Table:
    """Rows of metrics (days, groups, leaderboard entries): the ``first`` column
    (field, header), then ``extra`` fields, then :data:`METRIC_COLUMNS`."""
    table = Table()
    table.add_column(first[1])
    for name in extra:
        table.add_column(name.replace("_", " "), justify="right")
    for _, header, _ in METRIC_COLUMNS:
        table.add_column(header, justify="right")
    for row in rows:
        cells = [str(row[first[0]])]
        cells += [_number(row[name]) for name in extra]
        cells += [format(row[field], spec) for field, _, spec in METRIC_COLUMNS]
        table.add_row(*cells)
    return table


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if not value.is_integer() else f"{int(value):,}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def day_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--from`` and ``--to``: UTC days, inclusive (the server's default: the last 30)."""
    command = click.option("--to", "last", metavar="YYYY-MM-DD", help="Last UTC day (included).")(
        command
    )
    return click.option(
        "--from", "first", metavar="YYYY-MM-DD", help="First UTC day (default: 30 days ago)."
    )(command)


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("key")
@api_options
@json_option
def show(kind: str, key: str, url: str, token: str | None, as_json: bool) -> None:
    """Show one record: a developer by id or email, a commit by sha, a change or session by id."""
    with _api(url, token) as api:
        if kind == "developers" and "@" in key:
            doc = api.activity_by_email(key)
        else:
            doc = api.activity_get(cast(ActivityKind, kind), key)
    if as_json:
        echo_json(doc)
        return
    table = Table(show_header=False, title=f"{kind[:-1]} {key}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in doc.items():
        text = when(value) if name in TIME_FIELDS and isinstance(value, int) else value
        table.add_row(name, "" if text is None else str(text))
    Console().print(table)


TIME_FIELDS = frozenset({"created_at", "timestamp", "started_at", "ended_at"})


@click.command()
@day_options
@click.option("--developer", metavar="ID", help="One developer's days (those they were active).")
@api_options
@json_option
def daily(
    first: str | None, last: str | None, developer: str | None, url: str, token: str | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Activity metrics of each UTC day: active developers, commits and their AI
    share, agent edits and their acceptance, sessions, tokens, cost; a last row
    ``all days`` with the range's own figures (distinct developers over the range,
    so not the sum of the days' actives)."""
    with _api(url, token) as api:
        doc = api.activity_daily(first, last, developer)
        whole = None if developer is not None else api.activity_range(first, last)
    if as_json:
        echo_json(doc)
        return
    console = Console()
    if developer is not None:
        who = doc["developer"]
        console.print(f"{who['name'] or who['email']} ({who['id']}, {who['team'] or 'no team'})")
    table = metrics_table(doc["days"], ("day", "day (UTC)"))
    if whole is not None:
        table.add_section()
        table.add_row("all days", *(format(whole[f], spec) for f, _, spec in METRIC_COLUMNS))
    console.print(table)


@click.command()
@click.argument("by", type=click.Choice(["regions", "teams"]))
@day_options
@api_options
@json_option
def stats(by: str, first: str | None, last: str | None, url: str, token: str | None,
          as_json: bool) -> None:  # fmt: skip
    """Headcount and activity metrics per region or per team over a range of days."""
    with _api(url, token) as api:
        doc = api.activity_stats(cast(Any, by), first, last)
    if as_json:
        echo_json(doc)
        return
    Console().print(metrics_table(doc["groups"], ("group", by[:-1]), ("developers",)))


@click.command()
@click.option(
    "--metric",
    default="agent_edits",
    show_default=True,
    help="Metric ranked (the server lists the valid names when it refuses one).",
)
@click.option(
    "--by",
    type=click.Choice(["developer", "team", "region"]),
    default="developer",
    show_default=True,
    help="What is ranked.",
)
@day_options
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=10, show_default=True, help="Places shown."
)
@click.option("--team", help="Only this team's developers.")
@click.option("--region", help="Only this region's developers.")
@api_options
@json_option
def leaderboard(
    metric: str, by: str, first: str | None, last: str | None, limit: int, team: str | None,
    region: str | None, url: str, token: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Developers, teams or regions ranked by a metric, highest first (ties by key)."""
    with _api(url, token) as api:
        doc = api.activity_leaderboard(metric, cast(RankedBy, by), first, last, limit, team, region)
    if as_json:
        echo_json(doc)
        return
    table = Table(title=f"{doc['metric']} by {by}", title_justify="left")
    for name in ("#", by, "name", doc["metric"]):
        table.add_column(name, justify="right" if name in ("#", doc["metric"]) else "left")
    for entry in doc["entries"]:
        table.add_row(str(entry["rank"]), entry["key"], entry["name"], _number(entry["value"]))
    Console().print(table)
    if not doc["entries"]:
        Console().print("no activity in this range")


@click.command()
@click.option("--repair", is_flag=True, help="Fix what is safely fixable and say what was done.")
@click.option(
    "--drop-orphans",
    is_flag=True,
    help="With --repair: also delete records whose developer is missing.",
)
@api_options
@json_option
def consistency(repair: bool, drop_orphans: bool, url: str, token: str | None,
                as_json: bool) -> None:  # fmt: skip
    """Check the store: orphans, changes naming missing commits, duplicates, index
    drift. Exit code 1 while problems remain."""
    if drop_orphans and not repair:
        raise click.UsageError("--drop-orphans needs --repair")
    with _api(url, token) as api:
        doc = api.activity_repair(drop_orphans) if repair else api.activity_consistency()
    report = doc["after"] if repair else doc
    if as_json:
        echo_json(doc)
    else:
        console = Console()
        for action in doc.get("actions", []):
            console.print(f"[green]repaired[/green] {action}", highlight=False)
        if repair and not doc.get("actions"):
            console.print("nothing to repair")
        for line in report.get("summary", []):
            console.print(line, highlight=False)
        console.print("[green]consistent[/green]" if report["ok"] else "[red]inconsistent[/red]")
    if not report["ok"]:
        raise SystemExit(1)


@click.command()
@api_options
@json_option
def memory(url: str, token: str | None, as_json: bool) -> None:
    """Records and measured memory per record kind, with any configured limits."""
    with _api(url, token) as api:
        doc = api.activity_memory()
    if as_json:
        echo_json(doc)
        return
    table = number_table("kind", ("records", "limit", "data", "index", "total", "bytes/record"))
    for kind, s in doc["kinds"].items():
        table.add_row(
            kind, f"{s['count']:,}", "-" if s["limit"] is None else f"{s['limit']:,}",
            decimal(s["data_bytes"]), decimal(s["index_bytes"]), decimal(s["total_bytes"]),
            f"{s['bytes_per_record']:,.0f}",
        )  # fmt: skip
    Console().print(table)


@click.command()
@click.option("--list", "listing", is_flag=True, help="List the server's snapshots instead.")
@click.option("--restore", metavar="NAME", help="Replace the store with this snapshot instead.")
@api_options
@json_option
def snapshot(listing: bool, restore: str | None, url: str, token: str | None,
             as_json: bool) -> None:  # fmt: skip
    """Write a point-in-time snapshot of the activity store on the server (its
    activity snapshot directory); ``--list`` them, or ``--restore`` one."""
    if listing and restore:
        raise click.UsageError("--list and --restore exclude each other")
    with _api(url, token) as api:
        if listing:
            doc = api.activity_snapshots()
        elif restore:
            doc = api.activity_restore(restore)
        else:
            doc = api.activity_snapshot()
    if as_json:
        echo_json(doc)
        return
    rows = doc["snapshots"] if listing else [doc]
    table = Table(title=doc.get("directory") if listing else None, title_justify="left")
    for name in ("name", "created (UTC)", "bytes", "records", "sha256"):
        table.add_column(name, justify="right" if name in ("bytes", "records") else "left")
    for s in rows:
        records = "" if s.get("records") is None else f"{s['records']:,}"
        table.add_row(s["name"], when(s["created"]), decimal(s["bytes"]), records,
                      (s.get("sha256") or "")[:16])  # fmt: skip
    console = Console()
    console.print(table)
    if restore:
        console.print(f"restored {restore}", highlight=False)


@click.group()
def activity() -> None:
    """The activity database: developers, commits, AI-agent changes and sessions."""


for _command in (
    *(_list_command(k) for k in KINDS), show, daily, stats, leaderboard, consistency, memory,
    snapshot, *IMPORT_COMMANDS,
):  # fmt: skip
    activity.add_command(_command)
