"""A hypothesis state machine over DataDir: any sequence of writes to two tables,
snapshots (on demand and by log size), clean restarts and restarts without a final
snapshot leaves tables equal to a plain dict model, and the directory's invariants hold."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from infertrace.engine import snapfile
from infertrace.engine.datadir import DataDir
from tests.engine.test_datadir import KV

TABLES = ("a", "b")


class DataDirMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.path = Path(tempfile.mkdtemp(prefix="datadir-machine-"))
        self.model: dict[str, dict[str, int]] = {t: {} for t in TABLES}
        self.kv = KV(*TABLES)
        self.dd: DataDir | None = None
        self._open()

    def _open(self) -> None:
        self.kv = KV(*TABLES)
        self.dd = DataDir(
            self.path, [self.kv], fsync="off", segment_bytes=256, snapshot_log_bytes=300
        )

    @rule(table=st.sampled_from(TABLES), key=st.integers(0, 9), value=st.integers(-5, 5))
    def put(self, table: str, key: int, value: int) -> None:
        self.kv.put(table, f"k{key}", value)
        self.model[table][f"k{key}"] = value

    @rule()
    def snapshot(self) -> None:
        assert self.dd is not None
        info = self.dd.snapshot()
        newest = snapfile.list_snapshots(self.path)[-1]  # or a later one, by log size
        assert int(newest.name.removeprefix(snapfile.PREFIX)) >= info.seq

    @rule(final_snapshot=st.booleans())
    def restart(self, final_snapshot: bool) -> None:
        assert self.dd is not None
        self.dd.close(snapshot=final_snapshot)
        self._open()
        assert self.dd is not None
        if final_snapshot:
            assert self.dd.report.records_replayed == 0

    @invariant()
    def tables_match_the_model(self) -> None:
        assert self.kv.tables == self.model
        if self.dd is not None:
            self.dd._check()
            assert len(snapfile.list_snapshots(self.path)) <= self.dd.keep

    def teardown(self) -> None:
        assert self.dd is not None
        self.dd.close(snapshot=False)
        shutil.rmtree(self.path, ignore_errors=True)


DataDirMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=30, deadline=None)
TestDataDirMachine = DataDirMachine.TestCase
