"""``activity.gitlog`` on a repository this test builds with ``git``.

Every expected number comes from the edits the test makes (lines it appends or
removes, :mod:`tests.activity.gitrepo`), never from git or the code under test.
Trailers are written as each tool documents them (sources cited there and in
``infertrace.activity.gitlog``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infertrace.activity import gitlog
from infertrace.activity.gitlog import (
    GitCommit,
    ai_tool,
    co_authors,
    commit_record,
    count_commits,
    developer_record,
    numstat,
    read_commits,
    repo_name,
)
from infertrace.activity.identity import developer_id_for
from infertrace.errors import InvalidParameter
from tests.activity.gitrepo import ALICE, BOB, STEPS, ZOE, Repo, Step, build, day, ns


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    yield build(tmp_path / "demo-repo")


def by_message(commits: list[GitCommit], repo: Repo) -> dict[str, GitCommit]:
    """Commits keyed by their full message (read back from git for each sha)."""
    return {repo.git("log", "-1", "--format=%B", c.sha): c for c in commits}


def test_every_commit_matches_the_edits_that_made_it(repo: Repo) -> None:
    commits = list(read_commits(repo.path))
    assert len(commits) == len(STEPS)
    newest_first = list(reversed(list(enumerate(STEPS))))
    for got, (n, step) in zip(commits, newest_first, strict=True):
        assert got.additions == sum(step.append.values()), step.message
        assert got.deletions == sum(step.remove.values()), step.message
        assert got.ai_tool == step.tool, step.message
        assert got.author_name == step.author[0]
        assert got.author_email == step.author[1]
        assert got.timestamp == ns(n)
        assert len(got.sha) == 40


def test_records_take_developer_ids_from_the_author_email(repo: Repo) -> None:
    commits = list(read_commits(repo.path))
    for got, step in zip(commits, reversed(STEPS), strict=True):
        record = commit_record(got, "demo")
        assert record.developer_id == developer_id_for(step.author[1])
        assert record.ai_assisted is (step.tool is not None)
        assert record.ai_tool == step.tool
        assert (record.sha, record.repo, record.timestamp) == (got.sha, "demo", got.timestamp)
        dev = developer_record(got)
        assert (dev.id, dev.email, dev.name) == (
            developer_id_for(step.author[1]),
            step.author[1].lower(),
            step.author[0],
        )


def test_co_authors_are_listed_and_human_ones_do_not_count_as_ai(repo: Repo) -> None:
    commits = by_message(list(read_commits(repo.path)), repo)
    binary = next(c for m, c in commits.items() if m.startswith("Binary asset"))
    assert binary.co_authors == ("Carol <carol@example.com>",)
    assert binary.ai_tool is None
    both = next(c for m, c in commits.items() if m.startswith("Claude with a model"))
    assert both.co_authors == (
        "Claude Opus 4.7 <noreply@anthropic.com>",
        "Dan <dan@example.com>",
    )


def test_a_merge_counts_as_a_commit_without_lines_and_side_branches_need_all(
    repo: Repo,
) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.apply(Step(ALICE, "feature work", {"h.txt": 6}), 20)
    repo.git("checkout", "-q", "main")
    repo.apply(Step(BOB, "main work", {"i.txt": 2}), 21)
    repo.git("merge", "-q", "--no-ff", "-m", "Merge feature", "feature", when=day(22))
    repo.git("checkout", "-q", "-b", "unmerged")
    repo.apply(Step(ZOE, "not merged", {"j.txt": 9}), 23)
    repo.git("checkout", "-q", "main")
    head = {c.sha: c for c in read_commits(repo.path)}
    assert len(head) == len(STEPS) + 3
    merge = head[repo.head()]
    assert (merge.additions, merge.deletions, merge.ai_tool) == (0, 0, None)
    assert (
        sum(c.additions for c in head.values())
        == sum(sum(s.append.values()) for s in STEPS) + 6 + 2
    )
    everything = list(read_commits(repo.path, all_branches=True))
    assert len(everything) == len(head) + 1
    assert count_commits(repo.path) == len(head)
    assert count_commits(repo.path, all_branches=True) == len(everything)


@pytest.mark.parametrize("first", [0, 3, 7, len(STEPS) - 1])
def test_since_passes_through_to_git(repo: Repo, first: int) -> None:
    got = list(read_commits(repo.path, since=day(first)))
    assert [c.timestamp for c in got] == [ns(n) for n in reversed(range(first, len(STEPS)))]
    assert count_commits(repo.path, since=day(first)) == len(got)


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 16])
def test_parsing_does_not_depend_on_where_chunks_break(
    repo: Repo, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gitlog, "CHUNK", chunk)
    got = [(c.sha, c.additions, c.deletions, c.ai_tool) for c in read_commits(repo.path)]
    expected = [
        (sha, sum(s.append.values()), sum(s.remove.values()), s.tool)
        for sha, s in zip(repo.git("log", "--format=%H").split(), reversed(STEPS), strict=True)
    ]
    assert got == expected


def test_oldest_first_reverses_the_order(repo: Repo) -> None:
    newest = [c.sha for c in read_commits(repo.path)]
    oldest = list(read_commits(repo.path, oldest_first=True))
    assert [c.sha for c in oldest] == newest[::-1]
    assert [c.timestamp for c in oldest] == [ns(n) for n in range(len(STEPS))]


def test_repo_name_is_the_top_level_directory(repo: Repo) -> None:
    (repo.path / "sub").mkdir()
    assert repo_name(repo.path / "sub") == "demo-repo"


def test_stopping_early_ends_git_quietly(repo: Repo) -> None:
    commits = read_commits(repo.path)
    first = next(commits)
    commits.close()
    assert first.sha == repo.head()


def test_an_empty_repository_has_no_commits(tmp_path: Path) -> None:
    empty = Repo(tmp_path / "empty")
    assert list(read_commits(empty.path)) == []
    assert count_commits(empty.path) == 0


@pytest.mark.parametrize("kind", ["missing", "plain directory"])
def test_a_path_that_is_not_a_repository_is_named(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    path = tmp_path / "nothing"
    if kind == "plain directory":
        path.mkdir()
    with pytest.raises(InvalidParameter, match="nothing") as caught:
        list(read_commits(path))
    assert caught.value.name == "path"


@pytest.mark.parametrize(
    ("person", "tool"),
    [
        ("Claude <noreply@anthropic.com>", "claude-code"),
        ("Claude Sonnet 4.5 <NOREPLY@anthropic.com>", "claude-code"),
        ("Copilot <175728472+Copilot@users.noreply.github.com>", "copilot"),
        ("Copilot <198982749+Copilot@users.noreply.github.com>", "copilot"),
        ("copilot <someone@example.com>", "copilot"),
        ("Cursor Agent <cursoragent@cursor.com>", "cursor"),
        ("aider (gpt-4o) <noreply@aider.chat>", "aider"),
        ("Codex <noreply@openai.com>", "codex"),
        ("Carol <carol@example.com>", None),
        ("Claudette <claudette@example.com>", None),
        ("Copilotting Dev <dev@example.com>", None),
    ],
)
def test_co_author_table(person: str, tool: str | None) -> None:
    assert ai_tool("a message", "Human <h@example.com>", (person,)) == tool


@pytest.mark.parametrize(
    ("message", "author", "tool"),
    [
        ("aider: rename x", "Alice <a@example.com>", "aider"),
        ("fix: aider: not a prefix", "Alice <a@example.com>", None),
        (
            "x\n\n🤖 Generated with [Claude Code](https://claude.ai/code)",
            "A <a@b.c>",
            "claude-code",
        ),
        ("plain", "Alice Example (aider) <a@example.com>", "aider"),
        ("plain", "Copilot <198982749+Copilot@users.noreply.github.com>", "copilot"),
        ("plain", "Alice <a@example.com>", None),
    ],
)
def test_message_and_author_marks(message: str, author: str, tool: str | None) -> None:
    assert ai_tool(message, author, co_authors(message)) == tool


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (0, 0)),
        ("3\t1\ta.txt\n", (3, 1)),
        ("3\t1\ta.txt\n-\t-\tlogo.png\n10\t0\tsrc/{a => b}/c.py\n", (13, 1)),
        ("\n\n", (0, 0)),
    ],
)
def test_numstat_sums(text: str, expected: tuple[int, int]) -> None:
    assert numstat(text) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("x\n\nCo-authored-by: A <a@x.org>\n  co-authored-by:B<b@x.org>",
         ("A <a@x.org>", "B <b@x.org>")),
        ("x\n\nSigned-off-by: A <a@x.org>", ()),
        ("Co-authored-by: no email here", ()),
    ],
)  # fmt: skip
def test_co_author_trailers(message: str, expected: tuple[str, ...]) -> None:
    assert co_authors(message) == expected
