"""RegistryService: the rules of registration, telemetry, health and events over a store."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest

from infertrace.errors import InvalidParameter, ServiceNotFound
from infertrace.registry import Origin, ServiceStatus, ThreadSafeRegistry
from infertrace.registry.events import EventType, RegistryEvent
from infertrace.registry.service import MAX_PROVIDERS, RegistryService
from tests.threads import run_threads

S = 1_000_000_000
T0 = 1_700_000_000 * S


class Clock:
    """A settable clock in unix ns."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> int:
        self.now += int(seconds * S)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> Iterator[RegistryService]:
    store = ThreadSafeRegistry()
    svc = RegistryService(store, clock=clock, stale_after=60, error_window=10, min_requests=10)
    yield svc
    svc.shutdown()
    store._check()
    svc.events._check()


def _types(events: list[RegistryEvent]) -> list[tuple[EventType, str]]:
    return [(e.type, e.key) for e in events]


# -- registration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("health_url", "status"), [(None, ServiceStatus.HEALTHY), ("http://x/h", ServiceStatus.UNKNOWN)]
)
def test_register_creates_a_pod_and_publishes_registered(
    service: RegistryService, clock: Clock, health_url: str | None, status: ServiceStatus
) -> None:
    info = service.register(
        "vllm", "p0", address="10.0.0.1", port=8000, health_check_url=health_url,
        providers=["llama"], metadata={"zone": "a"},
    )  # fmt: skip
    assert (info.status, info.origin, info.registered_at, info.last_seen) == (
        status, Origin.REGISTRATION, clock.now, None,
    )  # fmt: skip
    assert service.get("vllm:p0") == info
    assert dict(info.metadata) == {"zone": "a"}
    [event] = service.events.since(0)
    assert (event.type, event.key, event.status, event.providers) == (
        EventType.REGISTERED, "vllm:p0", status, ("llama",),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("again", "expected_events", "changed"),
    [
        ({}, [], {}),
        ({"address": "10.0.0.1", "port": 8000}, [], {}),
        ({"providers": ["llama"]}, [], {}),
        ({"providers": ["mistral"]}, [EventType.PROVIDERS_CHANGED],
         {"providers": frozenset({"llama", "mistral"})}),
        ({"address": "10.0.0.9"}, [EventType.REGISTERED], {"address": "10.0.0.9"}),
        ({"port": 9000, "providers": ["x"]}, [EventType.REGISTERED, EventType.PROVIDERS_CHANGED],
         {"port": 9000, "providers": frozenset({"llama", "x"})}),
        ({"metadata": {"k": "v"}}, [EventType.REGISTERED], {"metadata": {"k": "v"}}),
        ({"notification_url": "http://n"}, [EventType.REGISTERED], {"notification_url": "http://n"}),
    ],
)  # fmt: skip
def test_registering_again_publishes_only_what_changed(
    service: RegistryService,
    clock: Clock,
    again: dict[str, object],
    expected_events: list[EventType],
    changed: dict[str, object],
) -> None:
    first = service.register("vllm", "p0", address="10.0.0.1", port=8000, providers=["llama"])
    clock.advance(5)
    info = service.register("vllm", "p0", **again)  # type: ignore[arg-type]
    assert [e.type for e in service.events.since(1)] == expected_events
    expected = {
        "address": "10.0.0.1", "port": 8000, "providers": frozenset({"llama"}), "metadata": {},
        "notification_url": None, **changed,
    }  # fmt: skip
    got = {k: getattr(info, k) for k in expected}
    got["metadata"] = dict(info.metadata)
    assert got == expected
    assert info.registered_at == first.registered_at  # the first registration's time stays
    assert service.get("vllm:p0") == info


@pytest.mark.parametrize(
    ("args", "name"),
    [
        ({"service_name": ""}, "service_name"),
        ({"pod_name": "a:b"}, "pod_name"),
        ({"port": 70000}, "port"),
        ({"providers": [""]}, "providers"),
        ({"health_check_url": ""}, "health_check_url"),
    ],
)
def test_bad_registrations_are_refused_naming_the_field(
    service: RegistryService, args: dict[str, object], name: str
) -> None:
    values: dict[str, object] = {"service_name": "vllm", "pod_name": "p0", **args}
    with pytest.raises(InvalidParameter) as info:
        service.register(**values)  # type: ignore[arg-type]
    assert info.value.name == name
    assert service.pods() == []
    assert service.events.last_id == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"stale_after": 0}, "stale_after"),
        ({"error_window": -1}, "error_window"),
        ({"degraded_error_rate": 1.5}, "degraded_error_rate"),
        ({"min_requests": 0}, "min_requests"),
        ({"touch_interval": "1"}, "touch_interval"),
    ],
)
def test_bad_settings_are_refused_naming_them(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(InvalidParameter, match=name):
        RegistryService(ThreadSafeRegistry(), **kwargs)  # type: ignore[arg-type]


# -- heartbeat, status, deregister --------------------------------------------------


def test_heartbeat_sets_last_seen_and_revives_an_unhealthy_pod(
    service: RegistryService, clock: Clock
) -> None:
    service.register("vllm", "p0")
    clock.advance(1)
    assert service.heartbeat("vllm:p0").last_seen == clock.now
    service.set_status("vllm:p0", "unhealthy")
    clock.advance(1)
    info = service.heartbeat("vllm:p0")
    assert (info.status, info.last_seen, info.last_status_change) == (
        ServiceStatus.HEALTHY, clock.now, clock.now,
    )  # fmt: skip
    assert [e.type for e in service.events.since(0)] == [
        EventType.REGISTERED, EventType.STATUS_CHANGED, EventType.STATUS_CHANGED,
    ]  # fmt: skip
    with pytest.raises(ServiceNotFound):
        service.heartbeat("vllm:nobody")


def test_set_status_publishes_only_a_change(service: RegistryService) -> None:
    service.register("vllm", "p0")
    service.set_status("vllm:p0", ServiceStatus.DRAINING)
    service.set_status("vllm:p0", "draining")
    events = service.events.since(1)
    assert [(e.type, e.status, e.previous_status) for e in events] == [
        (EventType.STATUS_CHANGED, ServiceStatus.DRAINING, ServiceStatus.HEALTHY)
    ]
    with pytest.raises(InvalidParameter, match="'resting'"):
        service.set_status("vllm:p0", "resting")
    with pytest.raises(ServiceNotFound):
        service.set_status("vllm:p9", "healthy")


def test_draining_is_sticky_against_telemetry_staleness_and_checks(
    service: RegistryService, clock: Clock
) -> None:
    service.observe("vllm", "p0", spans=100, errors=100)
    service.set_status("vllm:p0", "draining")
    service.observe("vllm", "p0", spans=100, errors=100)
    assert service.sweep() == []  # error rate 100 %: still draining
    clock.advance(3600)
    assert service.sweep() == []  # silent for an hour: still draining
    service.heartbeat("vllm:p0")
    service.report_check("vllm:p0", ok=False)
    service.report_check("vllm:p0", ok=True)
    assert service.get("vllm:p0").status is ServiceStatus.DRAINING
    service.set_status("vllm:p0", "healthy")
    assert service.get("vllm:p0").status is ServiceStatus.HEALTHY


def test_deregister_removes_the_pod_and_its_subscriptions(service: RegistryService) -> None:
    service.register("router", "r0", notification_url="http://127.0.0.1:1/n")
    service.register("vllm", "p0")
    service.subscribe("router:r0", "vllm")
    service.subscribe("router:r0", "tgi")
    assert service.subscriptions("router:r0") == ["tgi", "vllm"]
    assert [s.key for s in service.subscribers("vllm")] == ["router:r0"]
    service.deregister("router:r0")
    assert service.subscriptions("router:r0") == []
    assert service.store.get_subscribers("vllm") == []
    assert service.store.get_subscribers("tgi") == []
    assert service.events.since(2)[-1].type is EventType.DEREGISTERED
    with pytest.raises(ServiceNotFound):
        service.deregister("router:r0")
    with pytest.raises(ServiceNotFound):
        service.subscribe("router:r0", "vllm")  # only a known pod subscribes


def test_unsubscribe_is_a_no_op_when_absent(service: RegistryService) -> None:
    service.register("router", "r0")
    service.subscribe("router:r0", "vllm")
    service.subscribe("router:r0", "vllm")
    service.unsubscribe("router:r0", "vllm")
    service.unsubscribe("router:r0", "vllm")
    assert service.subscriptions("router:r0") == []
    assert service.subscribers("vllm") == []


# -- telemetry ----------------------------------------------------------------------


def test_telemetry_upserts_a_pod_and_learns_providers(
    service: RegistryService, clock: Clock
) -> None:
    service.observe("vllm", "p0", address="10.0.0.5", providers={"llama"}, spans=3)
    info = service.get("vllm:p0")
    assert (info.origin, info.status, info.address, info.providers, info.last_seen) == (
        Origin.TELEMETRY, ServiceStatus.HEALTHY, "10.0.0.5", frozenset({"llama"}), clock.now,
    )  # fmt: skip
    service.observe("vllm", "p0", providers={"llama"})  # nothing new: no event
    service.observe("vllm", "p0", providers={"llama", "qwen"})
    assert _types(service.events.since(0)) == [
        (EventType.REGISTERED, "vllm:p0"), (EventType.PROVIDERS_CHANGED, "vllm:p0"),
    ]  # fmt: skip
    assert service.events.since(1)[0].providers == ("llama", "qwen")
    assert service.models_of("vllm", "p0") == {"llama", "qwen"}
    assert service.models_of("vllm", "nope") == frozenset()


def test_telemetry_and_registration_make_origin_both(service: RegistryService) -> None:
    service.register("vllm", "p0", address="10.0.0.1")
    service.observe("vllm", "p0", address="10.9.9.9")
    info = service.get("vllm:p0")
    assert (info.origin, info.address) == (Origin.BOTH, "10.0.0.1")  # registered address wins
    service.observe("tgi", "t0")
    assert service.register("tgi", "t0").origin is Origin.BOTH


def test_last_seen_reaches_the_store_at_most_once_per_touch_interval(
    service: RegistryService, clock: Clock
) -> None:
    service.observe("vllm", "p0")
    first = clock.now
    for _ in range(5):
        clock.advance(0.1)
        service.observe("vllm", "p0")
    assert service.store.get_service("vllm:p0").last_seen == first
    clock.advance(0.6)  # 1.1 s after the first write
    service.observe("vllm", "p0")
    assert service.store.get_service("vllm:p0").last_seen == clock.now
    clock.advance(0.2)
    service.observe("vllm", "p0")
    last = clock.now
    service.sweep()  # still sending: observe() writes it in time, not the sweep
    assert service.store.get_service("vllm:p0").last_seen == last - int(0.2 * S)
    clock.advance(1.0)
    service.sweep()  # quiet for touch_interval: the sweep writes the exact last time
    assert service.store.get_service("vllm:p0").last_seen == last


def test_providers_from_telemetry_are_bounded(service: RegistryService) -> None:
    names = {f"m{i:03d}" for i in range(MAX_PROVIDERS + 10)}
    service.observe("vllm", "p0", providers=names)
    service.observe("vllm", "p0", providers={"late"})
    assert len(service.get("vllm:p0").providers) == MAX_PROVIDERS
    assert service.counters()["providers_ignored"] == 11


@pytest.mark.parametrize(
    ("silent", "spans", "errors", "expected"),
    [
        (0, 0, 0, ServiceStatus.HEALTHY),
        (59, 0, 0, ServiceStatus.HEALTHY),
        (60, 0, 0, ServiceStatus.UNHEALTHY),
        (3600, 50, 50, ServiceStatus.UNHEALTHY),
        (0, 10, 6, ServiceStatus.DEGRADED),  # 60 % of 10, min_requests 10
        (0, 10, 5, ServiceStatus.HEALTHY),  # 50 % is not above 50 %
        (0, 9, 9, ServiceStatus.HEALTHY),  # too few spans to judge
        (5, 100, 99, ServiceStatus.DEGRADED),
        (11, 100, 99, ServiceStatus.HEALTHY),  # the errors left the 10 s window
    ],
)
def test_sweep_applies_staleness_and_error_rate(
    service: RegistryService,
    clock: Clock,
    silent: int,
    spans: int,
    errors: int,
    expected: ServiceStatus,
) -> None:
    service.observe("vllm", "p0", spans=spans, errors=errors)
    clock.advance(silent)
    events = service.sweep()
    assert service.get("vllm:p0").status is expected
    changed = expected is not ServiceStatus.HEALTHY
    assert [(e.type, e.previous_status, e.status) for e in events] == (
        [(EventType.STATUS_CHANGED, ServiceStatus.HEALTHY, expected)] if changed else []
    )


def test_a_stale_pod_is_healthy_again_when_telemetry_resumes(
    service: RegistryService, clock: Clock
) -> None:
    service.observe("vllm", "p0")
    clock.advance(61)
    service.sweep()
    assert service.get("vllm:p0").status is ServiceStatus.UNHEALTHY
    service.observe("vllm", "p0")
    info = service.get("vllm:p0")
    assert (info.status, info.last_status_change) == (ServiceStatus.HEALTHY, clock.now)


def test_degraded_returns_to_healthy_when_errors_drop(
    service: RegistryService, clock: Clock
) -> None:
    service.observe("vllm", "p0", spans=20, errors=20)
    service.sweep()
    assert service.get("vllm:p0").status is ServiceStatus.DEGRADED
    assert service.error_rate("vllm:p0") == 1.0
    clock.advance(11)
    service.observe("vllm", "p0", spans=20, errors=1)
    assert service.error_rate("vllm:p0") == pytest.approx(1 / 20)
    service.sweep()
    assert service.get("vllm:p0").status is ServiceStatus.HEALTHY
    assert service.error_rate("vllm:quiet") is None


def test_pods_with_a_health_url_are_left_to_active_checks(
    service: RegistryService, clock: Clock
) -> None:
    service.register("vllm", "p0", health_check_url="http://127.0.0.1:1/health")
    service.observe("vllm", "p0", spans=50, errors=50)
    clock.advance(3600)
    assert service.sweep() == []
    assert service.get("vllm:p0").status is ServiceStatus.UNKNOWN
    service.report_check("vllm:p0", ok=True)
    assert service.get("vllm:p0").status is ServiceStatus.HEALTHY
    assert service.get("vllm:p0").last_health_check == clock.now
    assert service.report_check("vllm:gone", ok=True) is None


def test_registered_pods_never_heard_from_keep_their_status(
    service: RegistryService, clock: Clock
) -> None:
    service.register("vllm", "p0")
    clock.advance(3600)
    assert service.sweep() == []
    assert service.get("vllm:p0").status is ServiceStatus.HEALTHY
    service.heartbeat("vllm:p0")
    clock.advance(61)
    assert [e.status for e in service.sweep()] == [ServiceStatus.UNHEALTHY]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["tgi:t0", "vllm:p0", "vllm:p1"]),
        ({"name": "vllm"}, ["vllm:p0", "vllm:p1"]),
        ({"provider": "llama"}, ["tgi:t0", "vllm:p0"]),
        ({"status": "draining"}, ["vllm:p1"]),
        ({"name": "vllm", "provider": "llama", "status": "healthy"}, ["vllm:p0"]),
        ({"name": "nobody"}, []),
    ],
)
def test_pods_filters(
    service: RegistryService, filters: dict[str, str], expected: list[str]
) -> None:
    service.register("vllm", "p1", providers=["qwen"])
    service.register("vllm", "p0", providers=["llama"])
    service.observe("tgi", "t0", providers={"llama"})
    service.set_status("vllm:p1", "draining")
    assert [p.key for p in service.pods(**filters)] == expected


@pytest.mark.parametrize(
    ("filters", "name"), [({"status": "asleep"}, "status"), ({"provider": ""}, "provider")]
)
def test_bad_pod_filters_are_refused_naming_them(
    service: RegistryService, filters: dict[str, str], name: str
) -> None:
    with pytest.raises(InvalidParameter) as info:
        service.pods(**filters)
    assert info.value.name == name


# -- many threads ------------------------------------------------------------------


def test_many_threads_leave_events_that_replay_to_the_store(clock: Clock) -> None:
    """Eight threads mix telemetry, registrations, heartbeats, status changes,
    deregistrations and sweeps over six pods; replaying the events must give exactly
    the store's pods, statuses and providers (no change lost or out of order)."""
    store = ThreadSafeRegistry()
    service = RegistryService(store, clock=clock, stale_after=60, min_requests=5)
    pods = [("vllm", f"p{i}") for i in range(3)] + [("tgi", f"t{i}") for i in range(3)]
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(300):
            name, pod = rng.choice(pods)
            key = f"{name}:{pod}"
            op = rng.randrange(7)
            try:
                if op == 0:
                    service.observe(name, pod, providers={f"m{rng.randrange(4)}"}, spans=5,
                                    errors=rng.randrange(6))  # fmt: skip
                elif op == 1:
                    service.register(name, pod, providers=[f"m{rng.randrange(4)}"])
                elif op == 2:
                    service.heartbeat(key)
                elif op == 3:
                    service.set_status(key, rng.choice(list(ServiceStatus)))
                elif op == 4:
                    service.deregister(key)
                elif op == 5:
                    service.sweep(clock.now + rng.randrange(120) * S)
                else:
                    service.observe(name, pod, spans=1)
            except ServiceNotFound:
                pass
            except BaseException as exc:
                failures.append(exc)

    run_threads(work, 8)
    assert not failures, failures[:3]
    replayed: dict[str, tuple[ServiceStatus, tuple[str, ...]]] = {}
    events = service.events.since(0)
    assert [e.id for e in events] == list(range(1, service.events.last_id + 1))
    for event in events:
        if event.type is EventType.DEREGISTERED:
            assert event.key in replayed
            del replayed[event.key]
        else:
            assert (event.type is EventType.REGISTERED) or event.key in replayed, event
            replayed[event.key] = (event.status, event.providers)
    held = {p.key: (p.status, tuple(sorted(p.providers))) for p in store.get_all_services()}
    assert replayed == held
    store._check()
    service.events._check()
