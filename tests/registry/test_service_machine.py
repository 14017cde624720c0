"""RegistryService against a plain model, step by step (hypothesis).

The model keeps what the rules promise independently of how the service does it:
which pods exist, their providers (registration and telemetry only ever add),
their origin, whether they are draining (only set_status starts or ends it), and
what each subscriber follows. After every step: the service's ``_check()``, the
model agrees with the store, and replaying the event log from the start gives
exactly the store's pods, statuses and providers.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from infertrace.errors import ServiceNotFound
from infertrace.registry import Origin, ServiceStatus, ThreadSafeRegistry
from infertrace.registry.events import EventType
from infertrace.registry.service import RegistryService

S = 1_000_000_000
NAMES = st.sampled_from(["vllm", "tgi"])
PODS = st.sampled_from(["p0", "p1", "p2"])
MODELS = st.frozensets(st.sampled_from(["llama", "qwen", "mistral"]), max_size=2)
GROUPS = st.sampled_from(["vllm", "tgi", "other"])
STATUSES = st.sampled_from(list(ServiceStatus))


class Pod:
    def __init__(self, providers: frozenset[str], origin: Origin) -> None:
        self.providers = providers
        self.origin = origin
        self.draining = False


class ServiceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1_700_000_000 * S
        self.store = ThreadSafeRegistry()
        self.service = RegistryService(
            self.store, clock=lambda: self.now, stale_after=30, error_window=10, min_requests=5
        )
        self.pods: dict[str, Pod] = {}
        self.follows: dict[str, set[str]] = {}

    @rule(name=NAMES, pod=PODS, models=MODELS)
    def register(self, name: str, pod: str, models: frozenset[str]) -> None:
        self.service.register(name, pod, providers=models)
        key = f"{name}:{pod}"
        known = self.pods.get(key)
        if known is None:
            self.pods[key] = Pod(models, Origin.REGISTRATION)
        else:
            known.providers |= models
            if known.origin is Origin.TELEMETRY:
                known.origin = Origin.BOTH

    @rule(name=NAMES, pod=PODS, models=MODELS, spans=st.integers(0, 30), errors=st.integers(0, 30))
    def observe(self, name: str, pod: str, models: frozenset[str], spans: int, errors: int) -> None:
        self.service.observe(name, pod, providers=models, spans=spans, errors=min(errors, spans))
        key = f"{name}:{pod}"
        known = self.pods.get(key)
        if known is None:
            self.pods[key] = Pod(models, Origin.TELEMETRY)
        else:
            known.providers |= models
            if known.origin is Origin.REGISTRATION:
                known.origin = Origin.BOTH

    @rule(name=NAMES, pod=PODS)
    def heartbeat(self, name: str, pod: str) -> None:
        key = f"{name}:{pod}"
        try:
            self.service.heartbeat(key)
        except ServiceNotFound:
            assert key not in self.pods
        else:
            assert key in self.pods

    @rule(name=NAMES, pod=PODS, status=STATUSES)
    def set_status(self, name: str, pod: str, status: ServiceStatus) -> None:
        key = f"{name}:{pod}"
        try:
            info = self.service.set_status(key, status)
        except ServiceNotFound:
            assert key not in self.pods
            return
        assert info.status is status
        self.pods[key].draining = status is ServiceStatus.DRAINING

    @rule(name=NAMES, pod=PODS)
    def deregister(self, name: str, pod: str) -> None:
        key = f"{name}:{pod}"
        try:
            self.service.deregister(key)
        except ServiceNotFound:
            assert key not in self.pods
            return
        del self.pods[key]
        self.follows.pop(key, None)

    @rule(name=NAMES, pod=PODS, group=GROUPS)
    def subscribe(self, name: str, pod: str, group: str) -> None:
        key = f"{name}:{pod}"
        try:
            self.service.subscribe(key, group)
        except ServiceNotFound:
            assert key not in self.pods
            return
        self.follows.setdefault(key, set()).add(group)

    @rule(name=NAMES, pod=PODS, group=GROUPS)
    def unsubscribe(self, name: str, pod: str, group: str) -> None:
        key = f"{name}:{pod}"
        self.service.unsubscribe(key, group)
        self.follows.get(key, set()).discard(group)

    @rule(seconds=st.sampled_from([0.5, 5, 12, 31, 120]))
    def sweep_later(self, seconds: float) -> None:
        self.now += int(seconds * S)
        for event in self.service.sweep():
            assert event.type is EventType.STATUS_CHANGED
            assert event.status is not event.previous_status

    @invariant()
    def agrees_with_the_model(self) -> None:
        self.service._check()
        self.store._check()
        held = {p.key: p for p in self.store.get_all_services()}
        assert held.keys() == self.pods.keys()
        for key, pod in self.pods.items():
            info = held[key]
            assert info.providers == pod.providers, key
            assert info.origin is pod.origin, key
            assert (info.status is ServiceStatus.DRAINING) == pod.draining, key
            assert self.service.models_of(info.service_name, info.pod_name) == pod.providers
            assert self.service.subscriptions(key) == sorted(self.follows.get(key, ()))
        for group in ("vllm", "tgi", "other"):
            expected = sorted(k for k, groups in self.follows.items() if group in groups)
            assert [s.key for s in self.service.subscribers(group)] == expected

    @invariant()
    def events_replay_to_the_store(self) -> None:
        replayed: dict[str, tuple[ServiceStatus, tuple[str, ...]]] = {}
        for event in self.service.events.since(0):
            if event.type is EventType.DEREGISTERED:
                del replayed[event.key]
            else:
                replayed[event.key] = (event.status, event.providers)
        held = {
            p.key: (p.status, tuple(sorted(p.providers))) for p in self.store.get_all_services()
        }
        assert replayed == held
        self.service.events._check()


TestServiceMachine = ServiceMachine.TestCase
TestServiceMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
