"""A throwaway git repository built by ``git`` itself, for the git import tests.

:data:`STEPS` are commits whose line counts and AI tools the tests know from the
edits alone. Trailers are written as each tool writes them (sources cited in
``infertrace.activity.gitlog``): Claude Code
https://docs.anthropic.com/en/docs/claude-code/settings, GitHub Copilot
https://docs.github.com/en/copilot/concepts/agents/coding-agent/about-coding-agent,
Cursor https://docs.cursor.com/background-agent, aider https://aider.chat/docs/git.html,
Codex https://github.com/openai/codex/pull/11617.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

BINARY = bytes(range(256)) * 4
"""A file git treats as binary (it holds NUL bytes): numstat ``-``, counted 0."""


@dataclass
class Step:
    """One commit the test makes: lines appended to / removed from files, a binary."""

    author: tuple[str, str]
    message: str
    append: dict[str, int] = field(default_factory=dict)
    remove: dict[str, int] = field(default_factory=dict)
    binary: str | None = None
    tool: str | None = None
    """The AI tool the test expects the commit to be attributed to."""


ALICE = ("Alice Example", "alice@example.com")
BOB = ("Bob Builder", "Bob@Example.COM")
ZOE = ("Zoë Ångström-李", "zoe@exämple.org")

STEPS = [
    Step(ALICE, "Initial commit", {"a.txt": 5, "b.txt": 2}),
    Step(BOB, "Refactor a\n\nCo-Authored-By: Claude <noreply@anthropic.com>\n", {"a.txt": 3},
         {"b.txt": 1}, tool="claude-code"),
    Step(ALICE, "Copilot work\n\nco-authored-by: Copilot "
         "<175728472+Copilot@users.noreply.github.com>\n", {"c.txt": 4}, tool="copilot"),
    Step(BOB, "Cursor work\n\nCO-AUTHORED-BY: Cursor Agent <cursoragent@cursor.com>\n",
         {"c.txt": 1}, {"a.txt": 2}, tool="cursor"),
    Step(ZOE, "feat: add parser\n\nCo-authored-by: aider (anthropic/claude-sonnet-4) "
         "<noreply@aider.chat>\n", {"d.txt": 7}, tool="aider"),
    Step(ALICE, "aider: fix the off-by-one in the parser", {"d.txt": 1}, tool="aider"),
    Step(BOB, "Add tests\n\n🤖 Generated with [Claude Code](https://claude.com/claude-code)\n",
         {"e.txt": 2}, tool="claude-code"),
    Step(ZOE, "Binary asset with a tab-laden message\n\n12\t4\tnot/a/file.txt\n-\t-\tx\n"
         "Co-authored-by: Carol <carol@example.com>\n", {"f.txt": 2}, binary="logo.bin"),
    Step(ALICE, "Claude with a model name\n\nCo-Authored-By: Claude Opus 4.7 "
         "<noreply@anthropic.com>\nCo-authored-by: Dan <dan@example.com>\n", {"a.txt": 1},
         tool="claude-code"),
    Step(BOB, "Codex edit\n\nCo-authored-by: Codex <noreply@openai.com>\n", {"g.txt": 3},
         tool="codex"),
]  # fmt: skip


def day(n: int) -> str:
    """The RFC 2822-ish date git accepts for day ``n`` of January 2024, noon UTC."""
    return f"2024-01-{n + 1:02d}T12:00:00+00:00"


def ns(n: int) -> int:
    return int(datetime(2024, 1, n + 1, 12, tzinfo=UTC).timestamp()) * 1_000_000_000


class Repo:
    """A throwaway repository driven by ``git`` with fixed identities and dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, author: tuple[str, str] = ALICE, when: str = day(0)) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1],
            "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
        }  # fmt: skip
        done = subprocess.run(
            ["git", "-C", str(self.path), *args], env=env, capture_output=True, text=True,
            check=True, timeout=30,
        )  # fmt: skip
        return done.stdout

    def apply(self, step: Step, n: int) -> None:
        for name, count in step.append.items():
            have = self.lines.get(name, 0)
            with (self.path / name).open("a", encoding="utf-8") as f:
                f.writelines(f"{name} line {have + i}\n" for i in range(count))
            self.lines[name] = have + count
        for name, count in step.remove.items():
            text = (self.path / name).read_text(encoding="utf-8").splitlines(keepends=True)
            (self.path / name).write_text("".join(text[:-count]), encoding="utf-8")
            self.lines[name] -= count
        if step.binary:
            (self.path / step.binary).write_bytes(BINARY)
        self.git("add", "-A")
        self.git("commit", "-q", "--cleanup=verbatim", "-m", step.message, author=step.author,
                 when=day(n))  # fmt: skip

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()


def build(path: Path) -> Repo:
    """A repository at ``path`` holding :data:`STEPS`, on days 0, 1, ..."""
    repo = Repo(path)
    for n, step in enumerate(STEPS):
        repo.apply(step, n)
    return repo
