"""Running a thread-hammering test's workers: ``count`` threads, each given its index,
started together and joined with a bound, none left running."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_threads(work: Callable[[int], object], count: int, timeout: float = 60.0) -> None:
    """Run ``work(0)`` .. ``work(count - 1)`` in ``count`` threads and join each within
    ``timeout`` seconds; fail if any is still running (a deadlock, or work too slow).
    Workers report their own errors (a list they append to): a thread's exception
    does not reach the caller."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"threads still running after {timeout} s: {stuck}"
