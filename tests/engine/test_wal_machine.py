"""WriteAheadLog against a list of acknowledged records, step by step (hypothesis).

Appends (of payloads that often force a segment roll), truncations, clean
reopenings, crashes that leave a torn record at the end, and failed writes (a
full disk) in any order: after every step the log replays exactly the
acknowledged records above the truncation point, in order, and ``_check()`` holds.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from infertrace.engine.wal import WriteAheadLog, read_log
from infertrace.engine.walformat import header, list_segments

SEGMENT = 160
PAYLOADS = st.binary(min_size=0, max_size=90)


def _full_disk(fd: int, parts: Sequence[bytes | memoryview]) -> int:
    os.write(fd, bytes(parts[0])[:7])  # part of a header reaches the file
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class LogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="wal-machine-"))
        self.wal = WriteAheadLog(self.dir, "off", segment_bytes=SEGMENT)
        self.acked: list[tuple[int, bytes]] = []
        self.floor = 0  # records at or below it may have been truncated away

    @rule(payload=PAYLOADS)
    def append(self, payload: bytes) -> None:
        lsn = self.wal.append(payload)
        expected = self.acked[-1][0] + 1 if self.acked else 1
        assert lsn == expected
        self.acked.append((lsn, payload))

    @rule(payload=PAYLOADS)
    def append_on_a_full_disk(self, payload: bytes) -> None:
        real = self.wal._writev
        self.wal._writev = _full_disk
        try:
            self.wal.append(payload)
            raise AssertionError("a failed write was acknowledged")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            self.wal._writev = real

    @precondition(lambda self: self.acked)
    @rule(data=st.data())
    def truncate(self, data: st.DataObject) -> None:
        last = self.acked[-1][0]
        before = data.draw(st.integers(self.floor + 1, last + 1))
        self.wal.truncate_before(before)
        self.floor = before - 1

    @rule()
    def reopen(self) -> None:
        self.wal.close()
        self.wal = WriteAheadLog(self.dir, "off", segment_bytes=SEGMENT)
        assert self.wal.torn is None

    @rule(payload=st.binary(min_size=1, max_size=60), keep=st.integers(0, 80))
    def crash_mid_append(self, payload: bytes, keep: int) -> None:
        """A crash during an unacknowledged append: part of its record is on disk."""
        lsn = self.wal.next_lsn
        self.wal.close()
        record = header(lsn, payload) + payload
        torn = record[: min(keep, len(record) - 1)]
        last = list_segments(self.dir)[-1]
        with last.open("ab") as f:
            f.write(torn)
        self.wal = WriteAheadLog(self.dir, "off", segment_bytes=SEGMENT)
        assert (self.wal.torn is None) == (not torn)
        assert self.wal.next_lsn == lsn

    @invariant()
    def replays_what_was_acknowledged(self) -> None:
        self.wal._check()
        expected = [r for r in self.acked if r[0] > self.floor]
        assert list(self.wal.replay(after=self.floor)) == expected
        assert list(read_log(self.dir, after=self.floor)) == expected

    def teardown(self) -> None:
        self.wal.close()
        shutil.rmtree(self.dir, ignore_errors=True)


LogMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
TestLogMachine = LogMachine.TestCase
