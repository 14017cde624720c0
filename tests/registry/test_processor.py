"""RegistryProcessor: pods, addresses, providers and error counts from stored batches."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from infertrace.model import MetricPoint, MetricType, Span, StatusCode
from infertrace.registry import Origin, ThreadSafeRegistry
from infertrace.registry.processor import LABEL_SAMPLE, RegistryProcessor
from infertrace.registry.service import RegistryService
from infertrace.telemetry.batches import MetricBatch, SpanBatch
from infertrace.telemetry.semconv import METRIC_MODEL_LABELS

T0 = 1_700_000_000 * 1_000_000_000


@pytest.fixture
def service() -> Iterator[RegistryService]:
    svc = RegistryService(ThreadSafeRegistry(), clock=lambda: T0, min_requests=1)
    yield svc
    svc.events._check()


def _span(resource: dict[str, Any], model: str | None = None, error: bool = False) -> Span:
    return Span(
        trace_id=random.randbytes(16), span_id=random.randbytes(8),
        service_name=str(resource.get("service.name", "unknown_service")),
        operation_name="generate", start_time_unix_nano=T0, duration_nanos=1,
        status_code=StatusCode.ERROR if error else StatusCode.OK, model_name=model,
        resource_attributes=resource,
    )  # fmt: skip


def _point(resource: dict[str, Any], labels: dict[str, Any]) -> MetricPoint:
    return MetricPoint(
        "vllm:num_requests_running", MetricType.GAUGE, str(resource["service.name"]), T0,
        value=1.0, attributes=labels, resource_attributes=resource,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("resource", "key", "address"),
    [
        ({"service.name": "vllm", "service.instance.id": "i-1", "k8s.pod.name": "pod-1",
          "host.name": "h"}, "vllm:i-1", ""),
        ({"service.name": "vllm", "k8s.pod.name": "pod-1", "host.name": "h"}, "vllm:pod-1", ""),
        ({"service.name": "vllm", "host.name": "h", "server.address": "10.1.1.1"}, "vllm:h",
         "10.1.1.1"),
        ({"service.name": "vllm", "host.name": "h", "host.ip": ["10.2.2.2", "fe80::1"]}, "vllm:h",
         "10.2.2.2"),
        ({"service.name": "vllm", "host.name": "h", "server.address": "a.example",
          "host.ip": ["10.2.2.2"]}, "vllm:h", "a.example"),
        ({"service.name": "vllm", "service.instance.id": "", "host.name": "h"}, "vllm:h", ""),
    ],
)  # fmt: skip
@pytest.mark.parametrize("as_batch", [True, False])
def test_a_resource_names_its_pod_and_address(
    service: RegistryService, resource: dict[str, Any], key: str, address: str, as_batch: bool
) -> None:
    spans = [_span(resource)]
    RegistryProcessor(service).on_spans(SpanBatch.of(spans) if as_batch else spans, [resource])
    [pod] = service.pods()
    assert (pod.key, pod.address, pod.origin, pod.last_seen) == (
        key, address, Origin.TELEMETRY, T0,
    )  # fmt: skip


@pytest.mark.parametrize(
    "resource",
    [
        {"service.name": "vllm"},  # no instance
        {"host.name": "h"},  # no service name
        {"service.name": "vllm", "service.instance.id": "ns:pod"},  # cannot be a key
        {"service.name": "a:b", "host.name": "h"},
    ],
)
def test_a_resource_that_names_no_pod_is_only_counted(
    service: RegistryService, resource: dict[str, Any]
) -> None:
    RegistryProcessor(service).on_spans(SpanBatch.of([_span(resource)]), [resource])
    assert service.pods() == []
    assert service.counters()["telemetry_unnamed"] == 1


def test_one_resource_batch_counts_spans_errors_and_models(service: RegistryService) -> None:
    pod = {"service.name": "vllm", "service.instance.id": "p0"}
    rng = random.Random(7)
    spans = [
        _span(pod, rng.choice(["llama", "qwen", None]), error=rng.random() < 0.3)
        for _ in range(500)
    ]
    RegistryProcessor(service).on_spans(SpanBatch.of(spans), [pod])
    expected_models = {s.model_name for s in spans if s.model_name}
    expected_rate = sum(s.status_code is StatusCode.ERROR for s in spans) / len(spans)
    assert service.get("vllm:p0").providers == expected_models
    assert service.error_rate("vllm:p0") == pytest.approx(expected_rate)


@pytest.mark.parametrize("as_batch", [True, False])
def test_several_resources_in_one_batch_are_kept_apart(
    service: RegistryService, as_batch: bool
) -> None:
    pods = [{"service.name": "vllm", "service.instance.id": f"p{i}"} for i in range(3)]
    rng = random.Random(3)
    spans = []
    for _ in range(300):
        i = rng.randrange(3)
        spans.append(_span(pods[i], f"model-{i}", error=rng.random() < 0.2 * i))
    batch = SpanBatch.of(spans) if as_batch else spans
    RegistryProcessor(service).on_spans(batch, pods)
    for i, resource in enumerate(pods):
        mine = [s for s in spans if s.resource_attributes is resource]
        errors = sum(s.status_code is StatusCode.ERROR for s in mine)
        assert service.get(f"vllm:p{i}").providers == {f"model-{i}"}
        assert service.error_rate(f"vllm:p{i}") == pytest.approx(errors / len(mine))


@pytest.mark.parametrize("label", METRIC_MODEL_LABELS)
def test_metric_model_labels_teach_providers(service: RegistryService, label: str) -> None:
    pod = {"service.name": "vllm", "service.instance.id": "p0"}
    points = [_point(pod, {label: "llama", "engine": "0"}), _point(pod, {"engine": "1"})]
    RegistryProcessor(service).on_metrics(MetricBatch.of(points), [pod])
    assert service.get("vllm:p0").providers == {"llama"}
    assert service.error_rate("vllm:p0") is None  # metrics carry no span counts


def test_metrics_of_several_resources_teach_their_own_pods(service: RegistryService) -> None:
    pods = [{"service.name": "vllm", "service.instance.id": f"p{i}"} for i in range(2)]
    points = [_point(pods[i % 2], {"model_name": f"m{i % 2}", "x": i}) for i in range(10)]
    points.append(_point(pods[0], {"model_name": 5}))  # not a name: ignored
    RegistryProcessor(service).on_metrics(points, pods)
    assert [(p.key, p.providers) for p in service.pods()] == [
        ("vllm:p0", {"m0"}), ("vllm:p1", {"m1"}),
    ]  # fmt: skip


def test_logs_keep_a_pod_alive(service: RegistryService) -> None:
    pod = {"service.name": "vllm", "host.name": "h1"}
    RegistryProcessor(service).on_logs([], [pod])
    assert service.get("vllm:h1").last_seen == T0


def test_empty_batches_do_nothing(service: RegistryService) -> None:
    processor = RegistryProcessor(service)
    processor.on_spans(SpanBatch.empty(), [])
    processor.on_metrics(MetricBatch.empty(), [])
    processor.shutdown()
    assert service.pods() == []
    assert service.events.last_id == 0


def test_many_threads_feeding_the_processor_lose_no_count() -> None:
    service = RegistryService(ThreadSafeRegistry(), clock=lambda: T0, error_window=3600)
    processor = RegistryProcessor(service)
    pods = [{"service.name": "vllm", "service.instance.id": f"p{i}"} for i in range(4)]
    sent = {f"vllm:p{i}": [0, 0] for i in range(4)}
    lock = threading.Lock()
    start = threading.Barrier(6)

    def feed(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(100):
            i = rng.randrange(4)
            errors = rng.randrange(10)
            spans = [_span(pods[i], f"m{rng.randrange(3)}", error=e < errors) for e in range(20)]
            processor.on_spans(SpanBatch.of(spans), [pods[i]])
            with lock:
                sent[f"vllm:p{i}"][0] += 20
                sent[f"vllm:p{i}"][1] += errors

    threads = [threading.Thread(target=feed, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for key, (spans, errors) in sent.items():
        if spans:
            assert service.error_rate(key) == pytest.approx(errors / spans)
    assert {p.key for p in service.pods()} == {k for k, (n, _) in sent.items() if n}
    service.events._check()


@pytest.mark.parametrize("several_resources", [False, True])
def test_large_metric_batches_read_every_label_position_within_a_few_batches(
    service: RegistryService, several_resources: bool
) -> None:
    """A pod's 1,000 points all say 'common' but one says 'rare': 'common' is learned
    from the first batch, 'rare' within ceil(1000 / LABEL_SAMPLE) batches."""
    pod = {"service.name": "vllm", "service.instance.id": "p0"}
    other = {"service.name": "vllm", "service.instance.id": "p1"}
    points = [_point(pod, {"model_name": "rare" if i == 777 else "common"}) for i in range(1000)]
    resources = [pod]
    if several_resources:
        points += [_point(other, {"model_name": "x"})]
        resources.append(other)
    batch = MetricBatch.of(points)
    processor = RegistryProcessor(service)
    processor.on_metrics(batch, resources)
    assert "common" in service.get("vllm:p0").providers
    rounds = -(-1000 // LABEL_SAMPLE)
    for _ in range(rounds - 1):
        processor.on_metrics(batch, resources)
    assert service.get("vllm:p0").providers == {"common", "rare"}
