"""MemoryActivityStore against a plain model (dicts of records), step by step.

Rules save, batch-save, update and delete developers and commits, the model
doing the same by hand; after every step ``_check()`` holds and filtered lists,
counts, time ranges and a day's commit metrics agree with the model.
"""

from __future__ import annotations

import dataclasses

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from infertrace.activity import ActivityAnalytics, Commit, Developer, MemoryActivityStore
from infertrace.activity.records import DAY_NS
from infertrace.errors import DuplicateRecord, RecordNotFound
from tests.activity.conftest import DAY0, at

DEV_IDS = st.sampled_from([f"d{i}" for i in range(4)])
EMAILS = st.sampled_from([f"u{i}@x.org" for i in range(4)])
REGIONS = st.sampled_from(["US", "EU"])
SHAS = st.sampled_from([f"{i:07x}" for i in range(1, 8)])
DAYS = st.integers(0, 3)
DEVELOPERS = st.builds(lambda i, e, r: Developer(i, e, region=r), DEV_IDS, EMAILS, REGIONS)
COMMITS = st.builds(lambda s, d, day, h, ai: Commit(s, d, "repo", at(day, h), 1, 0, ai),
                    SHAS, DEV_IDS, DAYS, st.integers(0, 23), st.booleans())  # fmt: skip


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryActivityStore()
        self.analytics = ActivityAnalytics(self.store, cache_size=4)
        self.developers: dict[str, Developer] = {}
        self.commits: dict[str, Commit] = {}

    def _email_taken(self, d: Developer) -> bool:
        return any(o.email == d.email and o.id != d.id for o in self.developers.values())

    @rule(d=DEVELOPERS)
    def save_developer(self, d: Developer) -> None:
        try:
            self.store.save(d)
        except DuplicateRecord:
            assert d.id in self.developers or self._email_taken(d)
        else:
            self.developers[d.id] = d

    @rule(d=DEVELOPERS)
    def update_developer(self, d: Developer) -> None:
        try:
            old = self.store.update(d)
        except RecordNotFound:
            assert d.id not in self.developers
        except DuplicateRecord:
            assert self._email_taken(d)
        else:
            assert old == self.developers[d.id]
            self.developers[d.id] = d

    @rule(commits=st.lists(COMMITS, max_size=4))
    def save_commits(self, commits: list[Commit]) -> None:
        shas = [c.sha for c in commits]
        clash = any(s in self.commits for s in shas) or len(set(shas)) < len(shas)
        try:
            self.store.save_batch(commits)
        except DuplicateRecord:
            assert clash
        else:
            assert not clash
            self.commits.update((c.sha, c) for c in commits)

    @rule(sha=SHAS, day=DAYS)
    def move_commit(self, sha: str, day: int) -> None:
        if sha in self.commits:
            moved = dataclasses.replace(self.commits[sha], timestamp=at(day))
            self.store.update(moved)
            self.commits[sha] = moved

    @rule(key=st.one_of(DEV_IDS, SHAS))
    def delete(self, key: str) -> None:
        kind, model = (Developer, self.developers) if key.startswith("d") else (
            Commit, self.commits)  # fmt: skip
        try:
            gone = self.store.delete(kind, key)
        except RecordNotFound:
            assert key not in model
        else:
            assert gone == model.pop(key)

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.store._check()
        for region in ("US", "EU"):
            want = sorted((d for d in self.developers.values() if d.region == region),
                          key=lambda d: d.id)  # fmt: skip
            assert self.store.list(Developer, {"region": region}) == want
            assert self.store.count(Developer, {"region": region}) == len(want)
        for dev_id in ("d0", "d3"):
            want_c = sorted((c for c in self.commits.values() if c.developer_id == dev_id),
                            key=lambda c: c.sha)  # fmt: skip
            assert self.store.list(Commit, {"developer_id": dev_id}) == want_c
        for first, last in ((0, 0), (1, 3)):
            low, high = (DAY0 + first) * DAY_NS, (DAY0 + last + 1) * DAY_NS
            in_range = sorted((c for c in self.commits.values() if low <= c.timestamp < high),
                              key=lambda c: (c.timestamp, c.sha))  # fmt: skip
            assert self.store.get_commits_in_range(low, high) == in_range
            day = self.analytics.daily_metrics(DAY0 + first).metrics
            on_day = [c for c in self.commits.values() if c.timestamp // DAY_NS == DAY0 + first]
            assert day.commits == len(on_day)
            assert day.ai_assisted_commits == sum(c.ai_assisted for c in on_day)


TestActivityStoreMachine = StoreMachine.TestCase
TestActivityStoreMachine.settings = settings(max_examples=60, stateful_step_count=30,
                                             deadline=None)  # fmt: skip
