"""The store's state machine (``test_state_machine.py``) with upsert batches added:
developer and commit batches under every rule, over ids, emails and shas few
enough to clash often, must do exactly what the plain model of the rules
(``upsert_model.py``) says, refusals included; the inherited invariant compares
lists, counts, ranges and daily metrics with the model after every step."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import rule

from infertrace.activity import Commit, Developer
from infertrace.errors import DuplicateRecord
from tests.activity.test_state_machine import COMMITS, DEVELOPERS, StoreMachine
from tests.activity.upsert_model import model_upsert

MODES = st.sampled_from(["error", "skip", "replace"])


class UpsertMachine(StoreMachine):
    @rule(batch=st.lists(DEVELOPERS, max_size=5), mode=MODES)
    def upsert_developers(self, batch: list[Developer], mode: str) -> None:
        want = model_upsert(self.developers, batch, mode, lambda r: r.id, lambda r: r.email)
        self._apply(batch, mode, want.refused, want.counts)
        if want.after is not None:
            self.developers = want.after

    @rule(batch=st.lists(COMMITS, max_size=5), mode=MODES)
    def upsert_commits(self, batch: list[Commit], mode: str) -> None:
        want = model_upsert(self.commits, batch, mode, lambda r: r.sha)
        self._apply(batch, mode, want.refused, want.counts)
        if want.after is not None:
            self.commits = want.after

    def _apply(
        self, batch: list[Developer] | list[Commit], mode: str, refused: list[int],
        counts: tuple[int, int, int],
    ) -> None:  # fmt: skip
        try:
            done = self.store.upsert_batch(batch, mode)  # type: ignore[arg-type]
        except DuplicateRecord as exc:
            assert [i for i, _ in exc.problems] == refused, (mode, batch)
        else:
            assert not refused, (mode, batch)
            assert (done.inserted, done.skipped, done.replaced) == counts


TestUpsertMachine = UpsertMachine.TestCase
TestUpsertMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
