"""``infertrace activity ...`` against ``infertrace serve`` (a child process).

The git import reads a repository the test builds with ``git``
(:mod:`tests.activity.gitrepo`); the roster is a CSV the test writes; expected
numbers come from those inputs or from another route than the one under test
(the leaderboard against the listed commits, the daily sum against the
generator's totals), never from the command being checked.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from infertrace.activity.identity import developer_id_for
from infertrace.activity.records import DAY_NS, Change, ChangeKind, Developer, Region, Session
from infertrace.api.client import ApiClient
from infertrace.cli import main
from infertrace.cli.activity import lasted, when
from infertrace.cli.activity_import import record_json
from infertrace.testing import ServedProcess
from tests.activity.gitrepo import STEPS, Step, build, ns

WIDE = {"COLUMNS": "250"}


@dataclass
class Cli:
    url: str

    def run(self, *args: str, code: int = 0) -> Result:
        result = CliRunner(env=WIDE).invoke(
            main, ["activity", *args, "--url", self.url], catch_exceptions=False
        )
        assert result.exit_code == code, result.output
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").output)

    def all(self, kind: str) -> list[dict[str, Any]]:
        doc = self.json(kind, "--limit", "10000")
        assert doc["total"] == len(doc["items"])
        return list(doc["items"])


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, str]]:
    """``infertrace serve`` in a child process, and a snapshot of its empty activity store."""
    with ServedProcess() as server, ApiClient(server.url) as api:
        yield server.url, api.activity_snapshot()["name"]


@pytest.fixture
def cli(served: tuple[str, str]) -> Cli:
    """The server with an empty activity store (the empty snapshot restored)."""
    url, empty = served
    with ApiClient(url) as api:
        api.activity_restore(empty)
        assert all(k["count"] == 0 for k in api.activity_memory()["kinds"].values())
    return Cli(url)


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table, cells split on the box lines."""
    rows = []
    for line in output.splitlines():
        if line.startswith("│"):
            rows.append([c.strip() for c in re.split(r"│", line)[1:-1]])
    return rows


def tallies(output: str) -> dict[str, tuple[int, int]]:
    """``records -> (inserted, skipped)`` from an import's table."""
    return {
        row[0]: (int(row[1].replace(",", "") or 0), int(row[2].replace(",", "") or 0))
        for row in table_rows(output)
    }


def test_import_git_twice_is_idempotent(cli: Cli, tmp_path: Path) -> None:
    repo = build(tmp_path / "service-a")
    authors = {step.author[1].lower() for step in STEPS}
    first = tallies(cli.run("import-git", str(repo.path)).output)
    assert first == {"developers": (len(authors), 0), "commits": (len(STEPS), 0)}
    second = tallies(cli.run("import-git", str(repo.path)).output)
    assert second == {"developers": (0, len(authors)), "commits": (0, len(STEPS))}

    commits = {c["sha"]: c for c in cli.all("commits")}
    assert len(commits) == len(STEPS)
    shas = repo.git("log", "--reverse", "--format=%H").split()
    for sha, (n, step) in zip(shas, enumerate(STEPS), strict=True):
        got = commits[sha]
        assert got["repo"] == "service-a"
        assert got["developer_id"] == developer_id_for(step.author[1])
        assert (got["additions"], got["deletions"]) == (
            sum(step.append.values()), sum(step.remove.values()),
        )  # fmt: skip
        assert (got["ai_tool"], got["ai_assisted"]) == (step.tool, step.tool is not None)
        assert got["timestamp"] == ns(n)
    developers = {d["email"]: d for d in cli.all("developers")}
    assert set(developers) == authors
    for email, dev in developers.items():
        first_commit = min(n for n, s in enumerate(STEPS) if s.author[1].lower() == email)
        assert dev["id"] == developer_id_for(email)
        assert dev["created_at"] == ns(first_commit)


def test_feeds_answer_json(cli: Cli, tmp_path: Path) -> None:
    repo = build(tmp_path / "repo")
    authors = len({step.author[1].lower() for step in STEPS})
    first = cli.json("import-git", str(repo.path))
    assert first["commits"] == {"inserted": len(STEPS), "skipped": 0, "replaced": 0}
    assert first["developers"] == {"inserted": authors, "skipped": 0, "replaced": 0}
    assert (first["repeated_commits"], first["unusable"]) == (0, [])
    again = cli.json("import-git", str(repo.path))
    assert again["commits"] == {"inserted": 0, "skipped": len(STEPS), "replaced": 0}
    roster = tmp_path / "r.csv"
    roster.write_text(f"email,name,region,division,team\n{STEPS[0].author[1]},A,US,d,t\n"
                      "x@example.com,X,EU,d,t\n")  # fmt: skip
    assert cli.json("import-roster", str(roster)) == {"rows": 2, "created": 1, "updated": 1}
    made = cli.json("generate", "--developers", "3", "--days", "2", "--sessions", "0")
    assert made["developers"]["inserted"] == 3
    assert made["commits"]["inserted"] == 3 * 2
    assert "sessions" not in made  # nothing to post, no batch


def test_import_git_options_and_repo_name(cli: Cli, tmp_path: Path) -> None:
    repo = build(tmp_path / "checkout")
    since = datetime.fromtimestamp(ns(5) // 10**9, UTC).isoformat()
    out = cli.run("import-git", str(repo.path), "--since", since, "--repo-name", "billing")
    assert tallies(out.output)["commits"] == (len(STEPS) - 5, 0)
    commits = cli.all("commits")
    assert {c["repo"] for c in commits} == {"billing"}
    assert sorted(c["timestamp"] for c in commits) == [ns(n) for n in range(5, len(STEPS))]
    ai = cli.json("commits", "--ai", "--limit", "100")
    assert ai["total"] == sum(1 for s in STEPS[5:] if s.tool)


def test_a_commit_met_twice_is_posted_once_and_bad_authors_are_reported(
    cli: Cli, tmp_path: Path
) -> None:
    repo = build(tmp_path / "origin")
    clone = tmp_path / "clone"
    repo.git("clone", "-q", str(repo.path), str(clone))
    ghost = Step(("Ghost", ""), "no email", {"ghost.txt": 1})
    repo.apply(ghost, len(STEPS))
    result = CliRunner(env=WIDE).invoke(
        main, ["activity", "import-git", str(repo.path), str(clone), "--url", cli.url]
    )
    assert result.exit_code == 0, result.output
    counted = tallies(result.stdout)
    assert counted["commits"] == (len(STEPS), 0)
    assert counted["repeated commits"] == (0, len(STEPS))
    assert counted["unusable authors"] == (0, 1)
    assert "not imported:" in result.stderr and "is not an address" in result.stderr
    assert cli.json("commits")["total"] == len(STEPS)


def test_import_roster_updates_regions(cli: Cli, tmp_path: Path) -> None:
    repo = build(tmp_path / "repo")
    cli.run("import-git", str(repo.path))
    before = {d["email"]: d for d in cli.all("developers")}
    assert {d["region"] for d in before.values()} == {"other"}
    regions = ["EU", "apac", "Europe"]
    rows = [(email, f"Person {i}", regions[i], "Platform", f"team-{i % 2}")
            for i, email in enumerate(sorted(before))]  # fmt: skip
    rows.append(("new.hire@example.com", "New Hire", "US", "Research", "team-9"))
    roster = tmp_path / "roster.csv"
    lines = ["\ufeffteam,email,notes,region,name,division"]
    lines += [f"{t},{e},x,{r},{n},{d}" for e, n, r, d, t in rows]
    roster.write_text("\n".join(lines) + "\n", encoding="utf-8")

    out = cli.run("import-roster", str(roster)).output
    assert f"{len(rows)} roster rows: 1 developers created, {len(before)} updated" in out
    after = {d["email"]: d for d in cli.all("developers")}
    expected_region = {"EU": "EU", "apac": "APAC", "Europe": "EU", "US": "US"}
    for email, name, region, division, team in rows:
        got = after[email]
        assert got["id"] == developer_id_for(email)
        assert (got["name"], got["region"], got["division"], got["team"]) == (
            name, expected_region[region], division, team,
        )  # fmt: skip
        if email in before:
            assert got["created_at"] == before[email]["created_at"]
    stats = cli.json("stats", "regions", "--from", "2024-01-01", "--to", "2024-01-31")
    heads = {g["group"]: g["developers"] for g in stats["groups"]}
    counted = Counter(expected_region[r] for _, _, r, _, _ in rows)
    assert {k: v for k, v in heads.items() if v} == dict(counted)


def test_a_bad_roster_names_row_and_column(cli: Cli, tmp_path: Path) -> None:
    roster = tmp_path / "bad.csv"
    roster.write_text("email,name,region,division,team\na@x.org,A,EU,d,t\nb@x.org,B,Mars,d,t\n")
    out = cli.run("import-roster", str(roster), code=1).output
    assert "row 3, column region" in out and "'Mars'" in out
    assert cli.json("developers")["total"] == 0


def test_generate_then_daily_and_leaderboard(cli: Cli) -> None:
    developers, days, seed = 12, 4, 7
    last = date(2025, 3, 10)
    first = last - timedelta(days=days - 1)
    args = ("generate", "--developers", str(developers), "--days", str(days), "--seed", str(seed),
            "--last-day", last.isoformat())  # fmt: skip
    made = tallies(cli.run(*args).output)
    n_commits = developers * days
    assert made == {
        "developers": (developers, 0), "commits": (n_commits, 0),
        "changes": (3 * n_commits, 0), "sessions": (developers * days // 2, 0),
    }  # fmt: skip
    again = tallies(cli.run(*args).output)
    assert all(inserted == 0 for inserted, _ in again.values())

    window = ("--from", first.isoformat(), "--to", last.isoformat())
    daily = cli.json("daily", *window)["days"]
    assert [d["day"] for d in daily] == [(first + timedelta(days=i)).isoformat()
                                         for i in range(days)]  # fmt: skip
    assert sum(d["commits"] for d in daily) == n_commits
    table = table_rows(cli.run("daily", *window).output)
    assert [row[0] for row in table] == [d["day"] for d in daily] + ["all days"]
    commits_column = [int(row[2].replace(",", "")) for row in table]
    assert commits_column == [d["commits"] for d in daily] + [n_commits]

    commits = cli.all("commits")
    per_dev = Counter(c["developer_id"] for c in commits)
    board = cli.json("leaderboard", "--metric", "commits", *window, "--limit", "5")
    ranked = sorted(per_dev.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert [(e["key"], e["value"]) for e in board["entries"]] == ranked
    rows = table_rows(cli.run("leaderboard", "--metric", "commits", *window, "--limit", "5").output)
    assert [(r[1], int(r[3])) for r in rows] == ranked
    emails = {d["id"]: d["email"] for d in cli.all("developers")}
    assert all(developer_id_for(emails[k]) == k for k, _ in ranked)


def test_listing_filters_paging_and_show(cli: Cli) -> None:
    cli.run("generate", "--developers", "6", "--days", "2", "--seed", "1")
    devs = cli.all("developers")
    eu = [d for d in devs if d["region"] == "EU"]
    listed = cli.json("developers", "--region", "EU")
    assert listed["total"] == len(eu)
    page = cli.json("commits", "--limit", "3", "--offset", "2")
    everything = cli.all("commits")
    assert [c["sha"] for c in page["items"]] == [c["sha"] for c in everything[2:5]]
    who = devs[0]["id"]
    mine = cli.json("commits", "--developer", who, "--limit", "1000")
    assert mine["total"] == sum(1 for c in everything if c["developer_id"] == who)
    rejected = cli.json("changes", "--rejected", "--where", "kind=agent_edit", "--limit", "1000")
    assert rejected["total"] == sum(
        1 for c in cli.all("changes") if not c["accepted"] and c["kind"] == "agent_edit"
    )
    shown = cli.json("show", "developers", devs[0]["email"])
    assert shown == devs[0]
    out = cli.run("show", "commits", everything[0]["sha"]).output
    assert everything[0]["sha"] in out and "additions" in out
    text = cli.run("commits", "--limit", "3").output
    assert f"commits 1-3 of {len(everything):,}" in text
    assert len(table_rows(text)) == 3


def test_errors_are_one_line_and_exit_1(cli: Cli, tmp_path: Path) -> None:
    out = cli.run("leaderboard", "--metric", "happiness", code=1).output
    assert "HTTP 422" in out and "happiness" in out
    out = cli.run("show", "developers", "dev-0000000000000000", code=1).output
    assert "HTTP 404" in out
    (tmp_path / "plain").mkdir()
    out = cli.run("import-git", str(tmp_path / "plain"), code=1).output
    assert "not a git repository" in out
    unreachable = CliRunner().invoke(main, ["activity", "memory", "--url", "http://127.0.0.1:9"])
    assert unreachable.exit_code == 1 and "cannot reach" in unreachable.output


def test_memory_consistency_and_snapshot(cli: Cli) -> None:
    cli.run("generate", "--developers", "5", "--days", "2")
    kinds = cli.json("memory")["kinds"]
    listed = {k: cli.json(k)["total"] for k in ("developers", "commits", "changes", "sessions")}
    assert {k: v["count"] for k, v in kinds.items()} == listed
    assert "consistent" in cli.run("consistency").output
    assert cli.json("consistency")["ok"] is True
    made = cli.json("snapshot")
    assert made["records"] == sum(listed.values())
    names = [s["name"] for s in cli.json("snapshot", "--list")["snapshots"]]
    assert made["name"] in names
    assert cli.json("snapshot", "--restore", made["name"])["name"] == made["name"]


def test_consistency_reports_orphans_and_repair_drops_them(cli: Cli) -> None:
    cli.run("generate", "--developers", "2", "--days", "1")
    stranger = developer_id_for("nobody@example.com")
    orphan = record_json(Session("lost-1", stranger, "aider", 1, 2))
    with ApiClient(cli.url) as api:
        assert api.activity_batch("sessions", [orphan])["inserted"] == 1
    report = cli.run("consistency", code=1).output
    assert "inconsistent" in report and "lost-1" in report
    assert cli.run("consistency", "--drop-orphans", code=2).exit_code == 2
    repaired = cli.run("consistency", "--repair", "--drop-orphans").output
    assert "repaired" in repaired and "consistent" in repaired
    assert cli.json("consistency")["ok"] is True
    assert [s["id"] for s in cli.all("sessions") if s["developer_id"] == stranger] == []


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (Developer("d1", "A@B.org", "A", Region.EU),
         {"id": "d1", "email": "a@b.org", "name": "A", "region": "EU", "division": "",
          "team": "", "created_at": 0}),
        (Change("c1", "d1", 5, ChangeKind.MANUAL, accepted=False),
         {"id": "c1", "developer_id": "d1", "timestamp": 5, "kind": "manual", "tool": "",
          "language": "", "lines_added": 0, "lines_removed": 0, "accepted": False,
          "commit_sha": None}),
        (Session("s1", "d1", "aider", 1, 2, 3, 4, 0.5),
         {"id": "s1", "developer_id": "d1", "tool": "aider", "started_at": 1, "ended_at": 2,
          "input_tokens": 3, "output_tokens": 4, "cost_usd": 0.5}),
    ],
)  # fmt: skip
def test_record_json(record: Any, expected: dict[str, Any]) -> None:
    got = record_json(record)
    assert got == expected
    assert json.loads(json.dumps(got)) == expected


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [(0, 0, "0s"), (0, 45 * 10**9, "45s"), (0, 61 * 10**9, "1m01s"), (0, 3720 * 10**9, "1h02m"),
     (10, 5, "0s")],
)  # fmt: skip
def test_lasted(start: int, end: int, text: str) -> None:
    assert lasted(start, end) == text


def test_when_is_utc() -> None:
    day = 20_000
    expected = (date(1970, 1, 1) + timedelta(days=day)).isoformat() + " 01:01:01"
    assert when(day * DAY_NS + 3_661 * 10**9) == expected
    assert when(None) == ""
