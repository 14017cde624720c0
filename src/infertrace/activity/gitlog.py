"""Commits of a real git repository, read from ``git log --numstat`` as a stream.

One ``git log`` runs per repository with a format whose fields are separated
by NUL bytes. Git refuses a NUL in a commit message (``commit_tree_extended``:
"a NUL byte in commit log message not allowed"), so the separator survives any
message, and the numstat text of a commit is the field that follows its
message. Standard output is read in chunks and split as it comes: a large
history is never held as one string.

Which commits: ``HEAD`` by default (the work that reached the checked-out
branch; unmerged and abandoned branches stay out); ``all_branches`` reads every
local and remote-tracking branch and tag (``--branches --remotes --tags``),
never ``refs/stash``. ``since`` is passed to git as ``--since`` (git's own
forms: ``2024-01-01``, ``2 weeks ago``; git compares it with the committer
date). Git prints no numstat for a merge commit unless asked (``-m``), so a
merge counts as a commit with zero lines: its lines were counted in the
commits it merges.

Lines: additions and deletions summed over the files of a commit, as
``git log --numstat`` counts them (with git's rename detection: a moved file
counts only the lines that changed); a binary file's ``-`` counts 0. The time
is the author time (when the work was done, not when it was rebased), in UTC
nanoseconds.

AI assistance comes from the message (:data:`AI_TRAILERS`, :data:`AI_MESSAGE_MARKS`)
and the author (:data:`AI_AUTHORS`); each rule cites its vendor's documentation.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from infertrace.activity.identity import developer_id_for
from infertrace.activity.records import Commit, Developer
from infertrace.errors import InvalidParameter

_FIELDS = ("%H", "%ae", "%an", "%at", "%B")
FORMAT = "%x00" + "%x00".join(_FIELDS) + "%x00"
"""Each commit: NUL, then sha, author email, author name, author time, message,
each followed by NUL. The numstat text follows the last NUL; splitting the
whole output on NUL gives groups of six: (numstat of the previous commit, sha,
email, name, time, message)."""
_GROUP = 1 + len(_FIELDS)
CHUNK = 1 << 16
"""Bytes read from git's standard output at a time."""

_CO_AUTHOR = re.compile(r"^[ \t]*co-authored-by[ \t]*:[ \t]*(.*?)[ \t]*<([^<>]*)>", re.I | re.M)
"""A ``Co-authored-by: Name <email>`` trailer line, in any letter case."""

AI_TRAILERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Claude Code: "Co-Authored-By: Claude <noreply@anthropic.com>", the name may
    # carry the model ("Claude Opus 4.7"); setting includeCoAuthoredBy/attribution.
    # https://docs.anthropic.com/en/docs/claude-code/settings
    ("claude-code", re.compile(r"<noreply@anthropic\.com>$", re.I)),
    # GitHub Copilot coding agent: it commits as "Copilot
    # <NNN+Copilot@users.noreply.github.com>" (the id part varies by app), and a squash
    # merge of its pull request names it "Co-authored-by: Copilot <...>".
    # https://docs.github.com/en/copilot/concepts/agents/coding-agent/about-coding-agent
    # https://github.com/orgs/community/discussions/179983 (author and co-author shapes)
    ("copilot", re.compile(r"^copilot <|<(\d+\+)?copilot@users\.noreply\.github\.com>$", re.I)),
    # Cursor background/cloud agents: "Co-authored-by: Cursor Agent <cursoragent@cursor.com>".
    # https://docs.cursor.com/background-agent
    ("cursor", re.compile(r"<cursoragent@cursor\.com>$", re.I)),
    # aider --attribute-co-authored-by (default since v0.85):
    # "Co-authored-by: aider (<model>) <noreply@aider.chat>".
    # https://aider.chat/docs/git.html
    ("aider", re.compile(r"^aider \(.*\) <|<noreply@aider\.chat>$", re.I)),
    # OpenAI Codex CLI command_attribution: "Co-authored-by: Codex <noreply@openai.com>".
    # https://github.com/openai/codex/pull/11617
    ("codex", re.compile(r"<noreply@openai\.com>$", re.I)),
)
"""Co-author (``name <email>``) patterns of AI tools, first match wins."""

AI_MESSAGE_MARKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Claude Code's commit footer: "🤖 Generated with [Claude Code](https://claude.com/claude-code)".
    # https://docs.anthropic.com/en/docs/claude-code/settings (attribution.commit)
    ("claude-code", re.compile(r"generated with \[claude code\]", re.I)),
    # aider --attribute-commit-message-author: the message starts with "aider: ".
    # https://aider.chat/docs/git.html
    ("aider", re.compile(r"\Aaider: ")),
)
"""Message text that names the tool without a co-author trailer."""

AI_AUTHORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # aider --attribute-author (default): author name "User Name (aider)".
    # https://aider.chat/docs/git.html
    ("aider", re.compile(r"\(aider\) <", re.I)),
    # Commits the Copilot coding agent authors itself (the co-author patterns).
    ("copilot", AI_TRAILERS[1][1]),
)
"""Author (``name <email>``) patterns of commits an AI tool wrote as author."""


@dataclass(frozen=True, slots=True)
class GitCommit:
    """One commit as git reports it; ``ai_tool`` is None for a commit with no AI sign."""

    sha: str
    author_email: str
    author_name: str
    timestamp: int
    additions: int
    deletions: int
    co_authors: tuple[str, ...]
    ai_tool: str | None


def co_authors(message: str) -> tuple[str, ...]:
    """The ``Name <email>`` of every ``Co-authored-by`` trailer in ``message``, in order."""
    return tuple(f"{name} <{email}>" for name, email in _CO_AUTHOR.findall(message))


def ai_tool(message: str, author: str, co: Sequence[str] = ()) -> str | None:
    """The AI tool a commit names: a co-author trailer first, then a message mark,
    then the author (``name <email>``); None when none does."""
    for person in co:
        for tool, pattern in AI_TRAILERS:
            if pattern.search(person):
                return tool
    for tool, pattern in AI_MESSAGE_MARKS:
        if pattern.search(message):
            return tool
    for tool, pattern in AI_AUTHORS:
        if pattern.search(author):
            return tool
    return None


def numstat(text: str) -> tuple[int, int]:
    """Additions and deletions summed over ``--numstat`` lines (``-`` for binary is 0)."""
    added = deleted = 0
    for line in text.splitlines():
        a, tab, rest = line.partition("\t")
        d, tab2, _ = rest.partition("\t")
        if not (tab and tab2):
            continue
        if a.isdigit():
            added += int(a)
        if d.isdigit():
            deleted += int(d)
    return added, deleted


def _git(path: Path, *args: str) -> list[str]:
    return ["git", "-C", str(path), "-c", "core.quotePath=true", *args]


def _revisions(since: str | None, all_branches: bool) -> list[str]:
    refs = ["--branches", "--remotes", "--tags"] if all_branches else ["HEAD"]
    return [*refs, f"--since={since}"] if since is not None else refs


def _run(cmd: list[str], what: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    except FileNotFoundError as exc:
        raise InvalidParameter("path", "git is not installed (no `git` on PATH)") from exc
    if done.returncode != 0:
        raise InvalidParameter("path", f"{what}: {done.stderr.strip() or 'git failed'}")
    return done.stdout


def repo_name(path: str | Path) -> str:
    """The name of the repository at ``path``: its top-level directory's name.
    InvalidParameter (``path``) when ``path`` is not inside a repository."""
    root = Path(path)
    if not root.is_dir():
        raise InvalidParameter("path", f"{str(path)!r} is not a directory")
    top = _run(_git(root, "rev-parse", "--show-toplevel"), f"{path} is not a git repository")
    return Path(top.strip()).name


def count_commits(path: str | Path, since: str | None = None, all_branches: bool = False) -> int:
    """How many commits :func:`read_commits` yields for the same arguments
    (``git rev-list --count``); 0 for a repository without commits."""
    root = Path(path)
    if not _has_head(root):
        return 0
    cmd = _git(root, "rev-list", "--count", *_revisions(since, all_branches))
    return int(_run(cmd, f"cannot count the commits of {path}").strip() or 0)


def _has_head(root: Path) -> bool:
    repo_name(root)
    done = subprocess.run(
        _git(root, "rev-parse", "--verify", "--quiet", "HEAD"), capture_output=True, check=False
    )
    return done.returncode == 0


def read_commits(
    path: str | Path, since: str | None = None, all_branches: bool = False,
    oldest_first: bool = False,
) -> Iterator[GitCommit]:  # fmt: skip
    """The commits of the repository at ``path``, newest first (``oldest_first``:
    git's ``--reverse``, which git orders in its own memory before it prints), read
    as git prints them (memory here bounded by one commit plus a chunk). InvalidParameter (``path``)
    names a path that is not a repository, or git's own complaint. A repository
    without commits yields nothing. O(history)."""
    root = Path(path)
    if not _has_head(root):
        return
    cmd = _git(root, "log", "--numstat", f"--format={FORMAT}")
    cmd += ["--reverse"] if oldest_first else []
    cmd += _revisions(since, all_branches)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        out, err = proc.stdout, proc.stderr
        assert out is not None and err is not None
        finished = False
        try:
            yield from _parse(iter(lambda: out.read(CHUNK), b""))
            finished = True
        finally:
            out.close()  # a consumer that stops early ends git by SIGPIPE
            complaint = err.read().decode("utf-8", "replace").strip()
            code = proc.wait()
        if finished and code != 0:
            raise InvalidParameter("path", f"git log failed in {path}: {complaint or code}")


def _parse(chunks: Iterator[bytes]) -> Iterator[GitCommit]:
    """Commits from the NUL-separated output of :data:`FORMAT` (see its docstring)."""
    fields: list[str] = []
    tail = b""
    for chunk in chunks:
        parts = (tail + chunk).split(b"\0")
        tail = parts.pop()
        fields.extend(p.decode("utf-8", "replace") for p in parts)
        while len(fields) >= _GROUP + 1:
            # fields[0] is the previous commit's numstat (already used), then one commit
            # and its numstat text.
            yield _commit(fields[1:_GROUP], fields[_GROUP])
            del fields[:_GROUP]
    fields.append(tail.decode("utf-8", "replace"))
    if len(fields) == _GROUP + 1:
        yield _commit(fields[1:_GROUP], fields[_GROUP])
    elif len(fields) > 1:
        raise InvalidParameter("path", f"git log output ended inside a commit: {fields[1:]!r}")


def _commit(values: list[str], stat: str) -> GitCommit:
    sha, email, name, seconds, message = values
    added, deleted = numstat(stat)
    co = co_authors(message)
    return GitCommit(
        sha=sha.strip(),
        author_email=email.strip(),
        author_name=name.strip(),
        timestamp=int(seconds) * 1_000_000_000,
        additions=added,
        deletions=deleted,
        co_authors=co,
        ai_tool=ai_tool(message, f"{name} <{email}>", co),
    )


def commit_record(commit: GitCommit, repo: str) -> Commit:
    """The activity :class:`Commit` of ``commit`` in ``repo``, its developer id from
    the author email (:func:`developer_id_for`; InvalidParameter for an email that
    is not an address)."""
    tool = commit.ai_tool
    return Commit(
        commit.sha, developer_id_for(commit.author_email), repo, commit.timestamp,
        commit.additions, commit.deletions, tool is not None, tool,
    )  # fmt: skip


def developer_record(commit: GitCommit) -> Developer:
    """The author of ``commit`` as a :class:`Developer` known only from git: region
    other, no team, created at the commit's time (a roster fills in the rest)."""
    email = commit.author_email
    name = commit.author_name.removesuffix(" (aider)")
    return Developer(developer_id_for(email), email.strip().lower(), name,
                     created_at=commit.timestamp)  # fmt: skip
