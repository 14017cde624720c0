"""dirreport.lock_holder: who holds a data directory, asked without taking its lock."""

from __future__ import annotations

import os
import threading
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


def test_inspect_beside_a_directory_that_snapshots_and_compacts(tmp_path: Path) -> None:
    """A server deletes old snapshots and log segments while the tool reads: the
    report may name what vanished, but reading never fails."""
    from infertrace.engine.datadir import DataDir
    from infertrace.registry import ServiceInfo, ThreadSafeRegistry

    registry = ThreadSafeRegistry()
    stop = threading.Event()
    errors: list[BaseException] = []
    reports = 0

    def read() -> None:
        nonlocal reports
        while not stop.is_set():
            try:
                dirreport.inspect_dir(tmp_path)
                reports += 1
            except BaseException as exc:
                errors.append(exc)
                return

    with DataDir(tmp_path, [registry], fsync="off", segment_bytes=400) as data:
        reader = threading.Thread(target=read)
        reader.start()
        try:
            for i in range(30):
                for p in range(5):
                    registry.save_service(ServiceInfo("svc", f"p{p}", port=i))
                data.snapshot()
        finally:
            stop.set()
            reader.join(30)
    assert not errors, errors
    assert reports > 0
    final = dirreport.inspect_dir(tmp_path)
    assert final.ok, final.problems
