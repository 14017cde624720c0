"""EventLog: numbering, bounded history, since(), listeners, and asyncio wait across threads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from infertrace.errors import InvalidParameter
from infertrace.registry import ServiceInfo, ServiceStatus
from infertrace.registry.events import EventLog, EventType, RegistryEvent


def _info(name: str = "svc", pod: str = "p0", status: str = "healthy") -> ServiceInfo:
    return ServiceInfo(name, pod, providers={"b-model", "a-model"}, status=status)  # type: ignore[arg-type]


def _filled(n: int, history: int = 10_000, groups: tuple[str, ...] = ("svc",)) -> EventLog:
    log = EventLog(history, clock=lambda: 7)
    for i in range(n):
        log.publish(EventType.STATUS_CHANGED, _info(groups[i % len(groups)], f"p{i}"))
    log._check()
    return log


def test_an_event_carries_the_pod_state_after_the_change() -> None:
    log = EventLog(clock=lambda: 123)
    event = log.publish(EventType.STATUS_CHANGED, _info(status="degraded"), ServiceStatus.HEALTHY)
    assert event == RegistryEvent(
        1, EventType.STATUS_CHANGED, 123, "svc", "svc:p0", ServiceStatus.DEGRADED,
        ServiceStatus.HEALTHY, ("a-model", "b-model"),
    )  # fmt: skip
    assert event.to_json() == {
        "id": 1, "type": "status_changed", "at": 123, "service_name": "svc", "key": "svc:p0",
        "status": "degraded", "previous_status": "healthy", "providers": ["a-model", "b-model"],
    }  # fmt: skip
    with pytest.raises(AttributeError):
        event.id = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("published", "history", "last_id", "expected_ids"),
    [
        (0, 10, 0, []),
        (5, 10, 0, [1, 2, 3, 4, 5]),
        (5, 10, 3, [4, 5]),
        (5, 10, 5, []),
        (5, 10, 99, []),
        (25, 10, 0, list(range(16, 26))),  # the first 15 fell out of the history
        (25, 10, 20, [21, 22, 23, 24, 25]),
        (25, 10, -3, list(range(16, 26))),
    ],
)
def test_since_returns_held_events_newer_than_the_id(
    published: int, history: int, last_id: int, expected_ids: list[int]
) -> None:
    log = _filled(published, history)
    assert [e.id for e in log.since(last_id)] == expected_ids
    assert log.last_id == published
    assert log.oldest_id == (max(1, published - history + 1) if published else 1)
    assert len(log) == min(published, history)


def test_since_filters_one_group() -> None:
    log = _filled(9, groups=("a", "b", "c"))
    assert [e.id for e in log.since(0, group="b")] == [2, 5, 8]
    assert [e.id for e in log.since(5, group="b")] == [8]
    assert log.since(0, group="nobody") == []


@pytest.mark.parametrize("history", [0, -1, 1.5, "10"])
def test_a_bad_history_is_refused_naming_it(history: object) -> None:
    with pytest.raises(InvalidParameter, match=repr(history)):
        EventLog(history)  # type: ignore[arg-type]


def test_listeners_see_every_event_until_they_unsubscribe() -> None:
    log = EventLog()
    seen: list[int] = []
    stop = log.listen(lambda e: seen.append(e.id))
    log.publish(EventType.REGISTERED, _info())
    log.publish(EventType.DEREGISTERED, _info())
    stop()
    stop()  # twice is harmless
    log.publish(EventType.REGISTERED, _info())
    assert seen == [1, 2]


def test_a_listener_may_read_the_log_it_is_called_from() -> None:
    log = EventLog()
    seen: list[list[int]] = []
    log.listen(lambda e: seen.append([x.id for x in log.since(e.id - 1)]))
    log.publish(EventType.REGISTERED, _info())
    assert seen == [[1]]


def test_publishing_from_many_threads_numbers_every_event_once() -> None:
    log = EventLog(history=100_000)
    heard: list[int] = []
    lock = threading.Lock()

    def hear(event: RegistryEvent) -> None:
        with lock:
            heard.append(event.id)

    log.listen(hear)
    threads, per_thread = 8, 500
    start = threading.Barrier(threads)

    def publish(t: int) -> None:
        start.wait()
        for i in range(per_thread):
            log.publish(EventType.STATUS_CHANGED, _info(f"s{t}", f"p{i}"))

    workers = [threading.Thread(target=publish, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    total = threads * per_thread
    assert log.last_id == total
    assert [e.id for e in log.since(0)] == list(range(1, total + 1))
    assert sorted(heard) == list(range(1, total + 1))
    for t in range(threads):  # each thread's events keep their order
        pods = [e.key for e in log.since(0, group=f"s{t}")]
        assert pods == [f"s{t}:p{i}" for i in range(per_thread)]
    log._check()


def test_wait_returns_at_once_when_a_newer_event_exists() -> None:
    log = _filled(3)

    async def main() -> tuple[bool, bool]:
        return await log.wait(2, timeout=5), await log.wait(0, timeout=5)

    t = time.monotonic()
    assert asyncio.run(main()) == (True, True)
    assert time.monotonic() - t < 4


def test_wait_times_out_without_an_event() -> None:
    log = _filled(3)

    async def main() -> bool:
        return await log.wait(3, timeout=0.05)

    assert asyncio.run(main()) is False
    assert log._waiters == []  # a timed-out waiter is not kept


def test_wait_is_woken_by_a_publish_on_another_thread() -> None:
    log = EventLog()
    published = threading.Event()

    def later() -> None:
        time.sleep(0.05)
        log.publish(EventType.REGISTERED, _info())
        published.set()

    async def main() -> tuple[bool, float]:
        thread = threading.Thread(target=later)
        t = time.monotonic()
        thread.start()
        woke = await log.wait(0, timeout=20)
        elapsed = time.monotonic() - t
        thread.join(timeout=10)
        return woke, elapsed

    woke, elapsed = asyncio.run(main())
    assert woke and published.is_set()
    assert elapsed < 10  # woken by the publish, not by the 20 s timeout
    assert log._waiters == []


def test_many_waiters_on_one_loop_are_all_woken() -> None:
    log = EventLog()

    async def main() -> list[bool]:
        waits = [asyncio.ensure_future(log.wait(0, timeout=20)) for _ in range(20)]
        await asyncio.sleep(0.01)
        threading.Thread(target=log.publish, args=(EventType.REGISTERED, _info())).start()
        return await asyncio.wait_for(asyncio.gather(*waits), timeout=10)

    assert asyncio.run(main()) == [True] * 20
