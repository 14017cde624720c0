"""dirreport.lock_holder: who holds a data directory, asked without taking its lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infertrace.engine import dirreport
from infertrace.engine.wal import LOCK_NAME, lock_directory


@pytest.mark.parametrize("via", ["proc_locks", "probe"])
def test_lock_holder_names_the_pid_only_while_the_lock_is_held(
    tmp_path: Path, via: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if via == "probe":  # as where /proc/locks cannot be read
        real = Path.read_text

        def no_proc(self: Path, *args: object, **kwargs: object) -> str:
            if str(self) == "/proc/locks":
                raise PermissionError("no /proc here")
            return real(self, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Path, "read_text", no_proc)
    assert dirreport.lock_holder(tmp_path) is None  # no LOCK file
    fd = lock_directory(tmp_path, "data directory")
    try:
        assert dirreport.lock_holder(tmp_path) == str(os.getpid())
        with pytest.raises(BlockingIOError):  # asking did not disturb the holder
            lock_directory(tmp_path, "data directory")
    finally:
        os.close(fd)
    assert (tmp_path / LOCK_NAME).exists()
    assert dirreport.lock_holder(tmp_path) is None  # a stale file is not a holder
    again = lock_directory(tmp_path, "data directory")  # and nobody kept it
    os.close(again)
