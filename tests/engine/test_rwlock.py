import threading
import time

from infertrace.engine.rwlock import RWLock


def test_readers_share_and_writers_exclude() -> None:
    lock = RWLock()
    inside = {"readers": 0, "writers": 0, "max_readers": 0, "overlap": False}
    guard = threading.Lock()

    def reader() -> None:
        for _ in range(200):
            with lock.read():
                with guard:
                    inside["readers"] += 1
                    inside["max_readers"] = max(inside["max_readers"], inside["readers"])
                    inside["overlap"] |= inside["writers"] > 0
                time.sleep(0.0001)
                with guard:
                    inside["readers"] -= 1

    def writer() -> None:
        for _ in range(100):
            with lock.write():
                with guard:
                    inside["writers"] += 1
                    inside["overlap"] |= inside["readers"] > 0 or inside["writers"] > 1
                with guard:
                    inside["writers"] -= 1

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads += [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not inside["overlap"]
    assert inside["max_readers"] >= 2
    lock._check()
