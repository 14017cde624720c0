"""The registry runtime in one process: telemetry in, pods kept current, events out;
and the span model resolver asking the registry what a pod serves."""

from __future__ import annotations

import threading

import pytest

from infertrace.collector.models import ModelResolver
from infertrace.model import Span, StatusCode
from infertrace.registry import ServiceStatus, ThreadSafeRegistry
from infertrace.registry.events import EventType, RegistryEvent
from infertrace.registry.processor import RegistryProcessor
from infertrace.registry.service import RegistryService
from infertrace.telemetry.batches import SpanBatch
from infertrace.telemetry.semconv import FROM_POD

from .conftest import VARIANTS, open_store

S = 1_000_000_000
T0 = 1_700_000_000 * S


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def _batch(resource: dict[str, str], model: str | None, n: int = 10, first: int = 1) -> SpanBatch:
    return SpanBatch.of(
        Span(
            trace_id=bytes([first + i]) * 16,
            span_id=bytes([first + i]) * 8,
            service_name=resource["service.name"],
            operation_name="llm_request",
            start_time_unix_nano=T0,
            duration_nanos=1000,
            status_code=StatusCode.OK,
            model_name=model,
            input_tokens=5,
            resource_attributes=resource,
        )
        for i in range(n)
    )


def test_two_pods_register_one_goes_quiet_turns_unhealthy_and_recovers() -> None:
    clock = Clock()
    service = RegistryService(ThreadSafeRegistry(), clock=clock, stale_after=60)
    processor = RegistryProcessor(service)
    heard: list[RegistryEvent] = []
    service.events.listen(heard.append)
    a = {"service.name": "vllm", "service.instance.id": "vllm-0", "server.address": "10.0.0.1"}
    b = {"service.name": "vllm", "service.instance.id": "vllm-1", "server.address": "10.0.0.2"}

    processor.on_spans(_batch(a, "llama"), [a])
    processor.on_spans(_batch(b, "llama"), [b])
    assert [(p.key, p.status, p.address) for p in service.pods(provider="llama")] == [
        ("vllm:vllm-0", ServiceStatus.HEALTHY, "10.0.0.1"),
        ("vllm:vllm-1", ServiceStatus.HEALTHY, "10.0.0.2"),
    ]
    assert [e.type for e in heard] == [EventType.REGISTERED, EventType.REGISTERED]

    for _ in range(4):  # vllm-0 keeps sending, vllm-1 is quiet
        clock.now += 20 * S
        processor.on_spans(_batch(a, "llama"), [a])
        service.sweep()
    status = {p.key: p.status for p in service.pods()}
    assert status == {"vllm:vllm-0": ServiceStatus.HEALTHY, "vllm:vllm-1": ServiceStatus.UNHEALTHY}
    change = heard[-1]
    assert (change.type, change.key, change.previous_status, change.status) == (
        EventType.STATUS_CHANGED, "vllm:vllm-1", ServiceStatus.HEALTHY, ServiceStatus.UNHEALTHY,
    )  # fmt: skip

    clock.now += S
    processor.on_spans(_batch(b, "llama"), [b])
    assert service.get("vllm:vllm-1").status is ServiceStatus.HEALTHY
    assert (heard[-1].type, heard[-1].status) == (EventType.STATUS_CHANGED, ServiceStatus.HEALTHY)
    assert [e.id for e in heard] == list(range(1, service.events.last_id + 1))


def test_the_sweeper_thread_marks_a_quiet_pod_unhealthy() -> None:
    """Real time: stale_after 0.2 s gives a 0.05 s sweep interval."""
    service = RegistryService(ThreadSafeRegistry(), stale_after=0.2)
    pod = {"service.name": "vllm", "host.name": "h0"}
    turned = threading.Event()
    service.events.listen(lambda e: turned.set() if e.status is ServiceStatus.UNHEALTHY else None)
    RegistryProcessor(service).on_spans(_batch(pod, "llama"), [pod])
    service.start()
    try:
        assert turned.wait(10)
    finally:
        service.shutdown()
        service.shutdown()
    assert service.get("vllm:h0").status is ServiceStatus.UNHEALTHY


@pytest.mark.parametrize(
    ("registered", "learned", "expected"),
    [
        (["llama"], None, ("llama", FROM_POD)),  # the registry's one provider
        (["llama", "qwen"], None, None),  # two: ambiguous
        ([], None, None),
        (["llama"], "mistral", ("mistral", FROM_POD)),  # the resolver's own knowledge first
    ],
)
def test_the_model_resolver_asks_the_registry_for_a_pod_it_has_not_learned(
    registered: list[str], learned: str | None, expected: tuple[str, str] | None
) -> None:
    service = RegistryService(ThreadSafeRegistry())
    service.register("vllm", "vllm-0", providers=registered)
    resolver = ModelResolver(pod_models=service.models_of)
    pod = {"service.name": "vllm", "service.instance.id": "vllm-0"}
    if learned is not None:
        resolver.learn_spans(_batch(pod, learned, n=1), [pod])
    assert resolver.model_for(pod, "vllm") == expected
    stranger = {"service.name": "vllm", "service.instance.id": "vllm-9"}
    assert resolver.model_for(stranger, "vllm") is None


def test_the_resolver_names_a_span_model_from_a_registered_pod() -> None:
    service = RegistryService(ThreadSafeRegistry())
    service.register("vllm", "vllm-0", providers=["llama"])
    resolver = ModelResolver(pod_models=service.models_of)
    pod = {"service.name": "vllm", "service.instance.id": "vllm-0"}
    resolved = resolver.resolve(_batch(pod, None, n=3), [0, 2])
    assert list(resolved.column("model_name")) == ["llama", None, "llama"]
    assert list(resolved.column("model_source")) == [FROM_POD, None, FROM_POD]


def test_otlp_requests_through_the_collector_pipeline_keep_the_registry_current() -> None:
    """Real OTLP protobuf through the collector's Pipeline with the processor registered
    (structurally a collector Processor): pods appear with their models, a vLLM-like
    span without a model takes its registered pod's one provider."""
    from infertrace.collector.otlp.encode import encode_spans
    from infertrace.collector.pipeline import Pipeline, Signal
    from infertrace.collector.processors import Processor
    from infertrace.telemetry.filters import SpanFilter
    from infertrace.telemetry.memory import MemoryStore

    service = RegistryService(ThreadSafeRegistry())
    service.register("vllm", "vllm-1", providers=["qwen"])
    processor = RegistryProcessor(service)
    assert isinstance(processor, Processor)
    store = MemoryStore()
    pipeline = Pipeline(
        store, processors=[processor], models=ModelResolver(pod_models=service.models_of)
    )
    a = {"service.name": "vllm", "service.instance.id": "vllm-0"}
    b = {"service.name": "vllm", "service.instance.id": "vllm-1"}
    spans = list(_batch(a, "llama", n=3)) + list(_batch(b, None, n=2, first=50))
    body = encode_spans(spans).SerializeToString()
    outcome = pipeline.export(Signal.TRACES, body)
    assert outcome.accepted == 5
    pods = {p.key: p for p in service.pods()}
    assert pods["vllm:vllm-0"].providers == {"llama"}
    assert pods["vllm:vllm-1"].providers == {"qwen"}  # resolved from the registration
    assert pods["vllm:vllm-1"].origin.value == "both"
    models = {(s.resource_attributes["service.instance.id"], s.model_name, s.model_source)
              for s in store.list_spans(SpanFilter(limit=100))}  # fmt: skip
    assert models == {("vllm-0", "llama", "span"), ("vllm-1", "qwen", FROM_POD)}
    pipeline.shutdown()


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_service_rules_hold_over_every_store(
    variant: str, request: pytest.FixtureRequest
) -> None:
    """The same rules and events over LocalRegistry, ThreadSafeRegistry and PostgreSQL
    (records rebuilt from rows compare equal, so the mirror check holds there too)."""
    store = open_store(variant, request)
    clock = Clock()
    try:
        service = RegistryService(store, clock=clock, stale_after=60, min_requests=5)
        service.register("router", "r0", notification_url="http://127.0.0.1:9/n")
        service.subscribe("router:r0", "vllm")
        service.observe("vllm", "p0", address="10.0.0.1", providers={"llama"}, spans=10)
        service.register("vllm", "p0", providers=["qwen"])
        clock.now += 61 * S
        [event] = service.sweep()
        assert (event.key, event.status) == ("vllm:p0", ServiceStatus.UNHEALTHY)
        service.heartbeat("vllm:p0")
        service.set_status("vllm:p0", "draining")
        info = service.get("vllm:p0")
        assert (info.status, info.origin.value, info.providers, info.address) == (
            ServiceStatus.DRAINING, "both", {"llama", "qwen"}, "10.0.0.1",
        )  # fmt: skip
        assert [p.key for p in service.subscribers("vllm")] == ["router:r0"]
        service._check()
        service.deregister("router:r0")
        assert service.subscribers("vllm") == []
        service._check()
        assert [e.type.value for e in service.events.since(0)] == [
            "registered",  # router:r0
            "registered",  # vllm:p0 from telemetry
            "registered", "providers_changed",  # its registration: origin both, qwen added
            "status_changed", "status_changed", "status_changed",  # stale, heartbeat, drain
            "deregistered",
        ]  # fmt: skip
    finally:
        store.close()
