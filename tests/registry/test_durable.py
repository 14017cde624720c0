"""The in-memory registry as a data-directory participant (engine/journal.py's protocol).

Every scenario runs on a store attached to an in-memory journal; what the log and
the captured states rebuild is compared with the store that ran uninterrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from infertrace.engine import plain, snapfile
from infertrace.engine.journal import APPLIED_LSN, Durable
from infertrace.engine.snapfile import TableState
from infertrace.errors import InvalidParameter, LogUnavailable, ServiceNotFound
from infertrace.registry import Origin, ServiceInfo, ServiceStatus, ThreadSafeRegistry
from infertrace.registry.durable import DEFERRED_WAITS, TABLE
from tests.threads import run_threads

from .conftest import pod
from .journal_double import MemoryJournal

KEYS = [f"{n}:{p}" for n in ("svc", "llm") for p in ("p0", "p1", "p2")]
GROUPS = ["g0", "g1"]
Op = Callable[[ThreadSafeRegistry], object]


def contents(store: ThreadSafeRegistry) -> tuple[Any, ...]:
    """Everything a caller can read about the closed vocabulary of keys and groups."""
    return (
        store.get_all_services(),
        {g: store.get_subscribers(g) for g in GROUPS},
        {k: store.get_subscriptions(k) for k in KEYS},
        store.stats(),
    )


def journaled() -> tuple[ThreadSafeRegistry, MemoryJournal]:
    store, journal = ThreadSafeRegistry(), MemoryJournal()
    store.attach(journal)
    return store, journal


def replayed(
    journal: MemoryJournal, states: dict[str, TableState] | None = None
) -> ThreadSafeRegistry:
    """A fresh store restored from ``states`` and the whole log replayed over it."""
    fresh = ThreadSafeRegistry()
    fresh.restore(states or {})
    for lsn, table, payload in journal.after(0):
        fresh.replay(table, lsn, payload)
    fresh._check()
    return fresh


RICH = ServiceInfo(
    "vllm-llama",
    "pod-7",
    address="10.1.2.3",
    port=65535,
    health_check_url="http://10.1.2.3:8000/health",
    notification_url="http://10.1.2.3:9000/notify",
    providers=frozenset({"llama-70b", "llama-8b"}),
    status=ServiceStatus.DEGRADED,
    metadata={"zone": "eu-west-1a", "gpu": "H100"},
    registered_at=1_700_000_000_000_000_000,
    last_seen=None,
    last_health_check=0,
    last_status_change=None,
    origin=Origin.BOTH,
)

SCENARIOS: dict[str, list[Op]] = {
    "empty": [],
    "register": [lambda s: s.save_service(pod("svc", "p0")), lambda s: s.save_service(RICH)],
    "heartbeat": [
        lambda s: s.save_service(pod("svc", "p0", last_seen=10)),
        lambda s: s.save_service(pod("svc", "p0", last_seen=20)),
    ],
    "health": [
        lambda s: s.save_service(pod("svc", "p1")),
        lambda s: s.update_health_status("svc:p1", "healthy", 5),
        lambda s: s.update_health_status("svc:p1", ServiceStatus.UNHEALTHY, 9),
        lambda s: s.update_health_status("svc:p1", "unhealthy", 12),
    ],
    "deregister": [
        lambda s: s.save_service(pod("svc", "p0")),
        lambda s: s.save_service(pod("llm", "p1")),
        lambda s: s.delete_service("svc:p0"),
    ],
    "subscriptions": [
        lambda s: s.save_service(pod("svc", "p0")),
        lambda s: s.add_subscription("svc:p0", "g0"),
        lambda s: s.add_subscription("svc:p0", "g1"),
        lambda s: s.add_subscription("llm:p2", "g0"),  # a subscriber without a record
        lambda s: s.remove_subscription("svc:p0", "g0"),
        lambda s: s.remove_all_subscriptions("llm:p2"),
    ],
    "clear": [
        lambda s: s.save_service(pod("svc", "p0")),
        lambda s: s.add_subscription("svc:p0", "g1"),
        lambda s: s.clear(),
        lambda s: s.save_service(pod("llm", "p2")),
    ],
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> list[Op]:
    return SCENARIOS[request.param]


def test_the_store_is_durable() -> None:
    store = ThreadSafeRegistry()
    assert isinstance(store, Durable)
    assert list(store.table_names()) == [TABLE]


def test_replaying_the_whole_log_rebuilds_the_store(scenario: list[Op]) -> None:
    store, journal = journaled()
    for op in scenario:
        op(store)
    assert [lsn for lsn, _, _ in journal.records] == list(range(1, len(journal.records) + 1))
    assert {table for _, table, _ in journal.records} <= {TABLE}
    assert contents(replayed(journal)) == contents(store)


def test_capture_at_every_point_plus_the_rest_of_the_log_rebuilds_the_store(
    scenario: list[Op],
) -> None:
    store, journal = journaled()
    captures = [(journal.last_lsn, dict(store.capture()))]
    for op in scenario:
        op(store)
        captures.append((journal.last_lsn, dict(store.capture())))
    for last_lsn, states in captures:
        assert states[TABLE].meta[APPLIED_LSN] == last_lsn
        assert contents(replayed(journal, states)) == contents(store)


def test_a_snapshot_file_round_trip_restores_the_store(scenario: list[Op], tmp_path: Path) -> None:
    store, journal = journaled()
    for op in scenario:
        op(store)
    lsn = journal.last_lsn
    snapfile.save(tmp_path, store.capture(), lsn)
    loaded = snapfile.load_latest(tmp_path)
    assert loaded is not None and loaded.info.lsn == lsn
    restored = ThreadSafeRegistry()
    restored.restore(loaded.tables)
    restored._check()
    assert contents(restored) == contents(store)
    # what the snapshot holds is not replayed again
    for rec_lsn, table, payload in journal.after(0):
        restored.replay(table, rec_lsn, payload)
    assert contents(restored) == contents(store)


def test_log_records_are_plain_encoded_tuples_led_by_their_op() -> None:
    store, journal = journaled()
    store.save_service(RICH)
    (_, _, payload) = journal.records[0]
    change = plain.decode(payload)
    assert type(change) is tuple
    assert RICH.service_name in change and RICH.address in change
    assert payload[:1] == b"t"  # the plain encoding's tuple tag, not JSON text


WRITES: dict[str, Op] = {
    "save": lambda s: s.save_service(pod("svc", "p9")),
    "delete": lambda s: s.delete_service("svc:p0"),
    "health": lambda s: s.update_health_status("svc:p0", "unhealthy", 77),
    "subscribe": lambda s: s.add_subscription("svc:p0", "g1"),
    "unsubscribe": lambda s: s.remove_subscription("svc:p0", "g0"),
    "unsubscribe_all": lambda s: s.remove_all_subscriptions("svc:p0"),
    "clear": lambda s: s.clear(),
}


def _seeded() -> tuple[ThreadSafeRegistry, MemoryJournal]:
    store, journal = journaled()
    store.save_service(pod("svc", "p0"))
    store.add_subscription("svc:p0", "g0")
    return store, journal


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_refused_append_is_log_unavailable_and_changes_nothing(write: Op) -> None:
    store, journal = _seeded()
    before, logged = contents(store), list(journal.records)
    journal.fail_append = True
    with pytest.raises(LogUnavailable, match="No space left on device"):
        write(store)
    assert contents(store) == before
    assert journal.records == logged
    journal.fail_append = False
    write(store)  # takes writes again once the disk does
    assert contents(replayed(journal)) == contents(store)


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_closed_journal_is_log_unavailable_and_changes_nothing(write: Op) -> None:
    store, journal = _seeded()
    before = contents(store)
    journal.closed = True
    with pytest.raises(LogUnavailable, match="closed"):
        write(store)
    assert contents(store) == before


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_failed_wait_is_log_unavailable_after_the_change_is_logged(write: Op) -> None:
    store, journal = _seeded()
    journal.fail_wait = True
    with pytest.raises(LogUnavailable, match="may not be durable"):
        write(store)
    # logged and applied (the log may hold it), only not acknowledged
    assert contents(replayed(journal)) == contents(store)


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_each_write_logs_one_record_and_waits_for_it(write: Op) -> None:
    store, journal = _seeded()
    logged = journal.last_lsn
    write(store)
    assert journal.last_lsn == logged + 1
    assert journal.waited[-1] == journal.last_lsn


REFUSED: dict[str, tuple[Op, type[Exception]]] = {
    "delete unknown": (lambda s: s.delete_service("llm:p1"), ServiceNotFound),
    "health unknown": (lambda s: s.update_health_status("llm:p1", "healthy", 1), ServiceNotFound),
    "health bad status": (lambda s: s.update_health_status("svc:p0", "fine", 1), InvalidParameter),
    "health bad time": (
        lambda s: s.update_health_status("svc:p0", "healthy", -1),
        InvalidParameter,
    ),
    "save not a record": (lambda s: s.save_service("svc:p0"), InvalidParameter),  # type: ignore[arg-type]
    "subscribe bad key": (lambda s: s.add_subscription("nocolon", "g0"), InvalidParameter),
    "subscribe bad group": (lambda s: s.add_subscription("svc:p0", ""), InvalidParameter),
    "unsubscribe bad key": (lambda s: s.remove_subscription("a:b:c", "g0"), InvalidParameter),
    "unsubscribe_all bad key": (lambda s: s.remove_all_subscriptions(":p0"), InvalidParameter),
}


@pytest.mark.parametrize("call", REFUSED.values(), ids=REFUSED.keys())
def test_a_refused_change_is_not_logged(call: tuple[Op, type[Exception]]) -> None:
    write, error = call
    store, journal = _seeded()
    logged = list(journal.records)
    with pytest.raises(error):
        write(store)
    assert journal.records == logged


NO_OPS: dict[str, Op] = {
    "repeated subscribe": lambda s: s.add_subscription("svc:p0", "g0"),
    "unsubscribe not subscribed": lambda s: s.remove_subscription("svc:p0", "g1"),
    "unsubscribe_all of none": lambda s: s.remove_all_subscriptions("llm:p0"),
}


@pytest.mark.parametrize("write", NO_OPS.values(), ids=NO_OPS.keys())
def test_a_change_that_changes_nothing_is_not_logged(write: Op) -> None:
    store, journal = _seeded()
    logged = len(journal.records)
    write(store)
    assert len(journal.records) == logged


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_detached_store_logs_nothing(write: Op) -> None:
    store, journal = _seeded()
    logged = len(journal.records)
    store.attach(None)
    write(store)
    assert len(journal.records) == logged


BAD_REPLAYS: dict[str, tuple[str, bytes, str]] = {
    "other table": ("spans", plain.encode((6,)), "not the registry"),
    "garbage": (TABLE, b"\xff\x00", "record 5 does not apply"),
    "not a tuple": (TABLE, plain.encode([1, 2]), "record 5 does not apply"),
    "unknown op": (TABLE, plain.encode((42, "x")), "unknown registry change 42"),
    "delete of nothing": (TABLE, plain.encode((2, "llm:p1")), "record 5 does not apply"),
    "bad record": (TABLE, plain.encode((1, "svc", "p0")), "record 5 does not apply"),
}


@pytest.mark.parametrize("bad", BAD_REPLAYS.values(), ids=BAD_REPLAYS.keys())
def test_an_unusable_log_record_is_a_value_error_naming_it(bad: tuple[str, bytes, str]) -> None:
    table, payload, message = bad
    store, _ = _seeded()
    store.attach(None)
    before = contents(store)
    with pytest.raises(ValueError, match=message):
        store.replay(table, 5, payload)
    assert contents(store) == before


def _state(meta: dict[str, Any], parts: dict[str, Any]) -> dict[str, TableState]:
    return {TABLE: TableState(meta, parts)}


def _good_parts() -> dict[str, Any]:
    store, _ = _seeded()
    return dict(store.capture()[TABLE].parts)


BAD_STATES: dict[str, Callable[[], dict[str, TableState]]] = {
    "foreign format": lambda: _state({"format": 99, APPLIED_LSN: 1}, _good_parts()),
    "no applied lsn": lambda: _state({"format": 1}, _good_parts()),
    "negative lsn": lambda: _state({"format": 1, APPLIED_LSN: -3}, _good_parts()),
    "no subscriptions part": lambda: _state(
        {"format": 1, APPLIED_LSN: 1}, {"services": _good_parts()["services"]}
    ),
    "bad status": lambda: _state(
        {"format": 1, APPLIED_LSN: 1},
        {**_good_parts(), "services": {**_good_parts()["services"], "status": ["sleepy"]}},
    ),
}


@pytest.mark.parametrize("make", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_an_unusable_state_is_refused_and_the_store_kept(
    make: Callable[[], dict[str, TableState]],
) -> None:
    store, _ = _seeded()
    before = contents(store)
    with pytest.raises(ValueError, match="registry snapshot state is unusable"):
        store.restore(make())
    assert contents(store) == before


def test_restore_without_a_registry_table_starts_empty() -> None:
    store, _ = _seeded()
    store.restore({})
    assert store.stats() == (0, 0)
    assert store.capture()[TABLE].meta[APPLIED_LSN] == 0


class _BlockingJournal(MemoryJournal):
    """Waits block until released: shows where the store waits."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def wait(self, lsn: int) -> None:
        self.entered.set()
        assert self.release.wait(10)
        super().wait(lsn)


def test_a_writer_waits_for_the_disk_outside_the_lock() -> None:
    store, journal = ThreadSafeRegistry(), _BlockingJournal()
    store.attach(journal)
    writer = threading.Thread(target=store.save_service, args=(pod("svc", "p0"),))
    writer.start()
    try:
        assert journal.entered.wait(10)
        read: list[Any] = []
        reader = threading.Thread(target=lambda: read.append(store.get_all_services()))
        reader.start()
        reader.join(5)
        assert not reader.is_alive(), "a reader was blocked by a writer waiting on the disk"
        assert [i.key for i in read[0]] == ["svc:p0"]
    finally:
        journal.release.set()
        writer.join(10)
    assert journal.waited == [1]


def test_threads_hammering_one_store_log_in_the_order_they_apply() -> None:
    store, journal = journaled()
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        barrier.wait(10)
        try:
            for i in range(300):
                key = rng.choice(KEYS)
                name, pod_name = key.split(":")
                choice = rng.randrange(6)
                if choice == 0:
                    store.save_service(pod(name, pod_name, last_seen=i))
                elif choice == 1:
                    with contextlib.suppress(ServiceNotFound):
                        store.update_health_status(key, rng.choice(list(ServiceStatus)), i)
                elif choice == 2:
                    with contextlib.suppress(ServiceNotFound):
                        store.delete_service(key)
                elif choice == 3:
                    store.add_subscription(key, rng.choice(GROUPS))
                elif choice == 4:
                    store.remove_subscription(key, rng.choice(GROUPS))
                else:
                    store.remove_all_subscriptions(key)
        except BaseException as exc:
            errors.append(exc)

    run_threads(work, 8)
    assert not errors
    store._check()
    assert len(journal.records) > 100
    assert contents(replayed(journal)) == contents(store)


def test_replay_remembers_the_lsn_so_a_restored_store_continues_the_log() -> None:
    store, journal = _seeded()
    states = dict(store.capture())
    store.save_service(dataclasses.replace(pod("svc", "p0"), port=1))
    restarted = ThreadSafeRegistry()
    restarted.restore(states)
    for lsn, table, payload in journal.after(0):
        restarted.replay(table, lsn, payload)
    assert restarted.capture()[TABLE].meta[APPLIED_LSN] == journal.last_lsn
    assert contents(restarted) == contents(store)


def test_deferred_waits_wait_once_the_outermost_block_exits() -> None:
    store, journal = journaled()
    with DEFERRED_WAITS:
        store.save_service(pod("svc", "p0"))
        with DEFERRED_WAITS:
            store.add_subscription("svc:p0", "g0")
        assert journal.waited == [], "an inner block must not wait"
        store.save_service(pod("svc", "p1"))
        assert journal.waited == []
    assert journal.waited == [1, 2, 3]
    store.delete_service("svc:p1")  # outside any block: waits at once
    assert journal.waited == [1, 2, 3, 4]


class _FirstWaitFails(MemoryJournal):
    def wait(self, lsn: int) -> None:
        if lsn == 1:
            raise OSError(5, f"fsync failed covering lsn {lsn}")
        super().wait(lsn)


def test_a_deferred_failed_wait_is_raised_at_the_exit_after_every_wait() -> None:
    store, journal = ThreadSafeRegistry(), _FirstWaitFails()
    store.attach(journal)
    with pytest.raises(LogUnavailable, match="change 1 may not be durable"), DEFERRED_WAITS:
        store.save_service(pod("svc", "p0"))
        store.save_service(pod("svc", "p1"))
    assert journal.waited == [2]  # the second was still waited for
    assert contents(replayed(journal)) == contents(store)
    with DEFERRED_WAITS:  # the failure left no pending change behind
        pass
    assert journal.waited == [2]


class _FirstWaitBlocks(MemoryJournal):
    """The first wait blocks until released; later ones return at once."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()
        self.first = True

    def wait(self, lsn: int) -> None:
        if self.first:
            self.first = False
            self.entered.set()
            assert self.release.wait(10)
        super().wait(lsn)


def test_a_service_change_waiting_for_the_log_does_not_hold_up_other_changes() -> None:
    from infertrace.registry.service import RegistryService

    store, journal = ThreadSafeRegistry(), _FirstWaitBlocks()
    service = RegistryService(store, clock=lambda: 1_000)
    store.attach(journal)
    first = threading.Thread(target=service.observe, args=("svc", "p0"))
    first.start()
    try:
        assert journal.entered.wait(10)
        second = threading.Thread(target=service.observe, args=("llm", "p1"))
        second.start()
        second.join(5)
        assert not second.is_alive(), "the service lock was held during a durability wait"
        assert first.is_alive()  # still waiting for its record
    finally:
        journal.release.set()
        first.join(10)
    assert [i.key for i in store.get_all_services()] == ["llm:p1", "svc:p0"]
    assert contents(replayed(journal)) == contents(store)
