"""Synthetic activity for demos, tests and benchmarks, reproducible from a seed.

Shapes follow what adoption data looks like: most developers in a few regions
(US 40%, EU 30%, APAC 25%, other 5%), teams of about 100 in divisions of ten
teams, activity skewed (a Pareto weight per developer, so a few do much of the
work), each developer with their own agent adoption rate that sets how many of
their commits are AI-assisted and how many of their changes are agent edits;
about 70% of agent edits accepted. Times fall uniformly within the days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from infertrace.activity.records import (
    DAY_NS,
    Change,
    ChangeKind,
    Commit,
    Developer,
    Region,
    Session,
)

TOOLS = ("claude-code", "copilot", "cursor", "aider")
LANGUAGES = ("python", "typescript", "go", "rust", "java")
REGIONS = ((Region.US, 0.40), (Region.EU, 0.30), (Region.APAC, 0.25), (Region.OTHER, 0.05))


@dataclass(frozen=True, slots=True)
class Population:
    """Generated records, each list in creation order."""

    developers: list[Developer]
    commits: list[Commit]
    changes: list[Change]
    sessions: list[Session]


def generate(
    developers: int, days: int, *, commits: int, changes: int, sessions: int = 0,
    seed: int = 0, first_day: int = 20_000, repos: int = 200,
) -> Population:  # fmt: skip
    """``developers`` developers and the given numbers of commits, changes and
    sessions over days ``first_day .. first_day + days - 1``. O(total records)."""
    if developers < 1 or days < 1:
        raise ValueError(f"developers {developers} and days {days} must be >= 1")
    rng = random.Random(seed)
    teams = max(1, developers // 100)
    regions = [r for r, _ in REGIONS]
    weights = [w for _, w in REGIONS]
    devs = [
        Developer(f"dev-{i:07d}", f"dev{i}@example.com", f"Developer {i}",
                  rng.choices(regions, weights)[0], f"division-{t // 10}", f"team-{t:04d}",
                  first_day * DAY_NS)
        for i, t in ((i, rng.randrange(teams)) for i in range(developers))
    ]  # fmt: skip
    adoption = [rng.random() for _ in devs]
    activity = [rng.paretovariate(1.5) for _ in devs]
    start, span = first_day * DAY_NS, days * DAY_NS

    def who(n: int) -> list[int]:
        return rng.choices(range(developers), activity, k=n)

    out_commits = []
    for d in who(commits):
        ai = rng.random() < adoption[d]
        out_commits.append(Commit(
            f"{rng.getrandbits(160):040x}", devs[d].id, f"repo-{rng.randrange(repos):03d}",
            start + rng.randrange(span), rng.randrange(400), rng.randrange(200), ai,
            rng.choice(TOOLS) if ai else None,
        ))  # fmt: skip
    out_changes = []
    for n, d in enumerate(who(changes)):
        agent = rng.random() < adoption[d]
        out_changes.append(Change(
            f"chg-{n:08d}", devs[d].id, start + rng.randrange(span),
            ChangeKind.AGENT_EDIT if agent else ChangeKind.MANUAL,
            rng.choice(TOOLS) if agent else "", rng.choice(LANGUAGES), rng.randrange(1, 200),
            rng.randrange(60), not agent or rng.random() < 0.7,
        ))  # fmt: skip
    out_sessions = []
    for n, d in enumerate(who(sessions)):
        begin = start + rng.randrange(span)
        tokens_in, tokens_out = rng.randrange(1_000, 200_000), rng.randrange(100, 40_000)
        out_sessions.append(Session(
            f"ses-{n:08d}", devs[d].id, rng.choice(TOOLS), begin,
            begin + rng.randrange(60, 4 * 3600) * 1_000_000_000, tokens_in, tokens_out,
            round(tokens_in * 3e-6 + tokens_out * 15e-6, 6),
        ))  # fmt: skip
    return Population(devs, out_commits, out_changes, out_sessions)
