"""SeenProcessor: last-seen instances and models, fed through the pipeline."""

from __future__ import annotations

import dataclasses
import itertools
from types import MappingProxyType

import httpx

from infertrace.collector import BackgroundCollector, models
from infertrace.collector.otlp.encode import encode_logs, encode_metrics, encode_spans
from infertrace.collector.otlp.otlp_json import dumps
from infertrace.collector.pipeline import Pipeline, Signal
from infertrace.collector.seen import SeenProcessor, instance_of
from infertrace.model import Span
from infertrace.telemetry.reference import ReferenceStore
from infertrace.workload import Workload


def _clock() -> itertools.count[int]:
    return itertools.count(1000)


def test_instance_of_is_the_one_rule_instance_id_then_pod_then_host() -> None:
    """The seen table and the model resolver name instances alike (issue 12's rule:
    service.instance.id, else k8s.pod.name, else host.name)."""
    assert instance_of is models.instance_of
    both = MappingProxyType({"service.name": "s", "k8s.pod.name": "p", "service.instance.id": "i"})
    assert instance_of(both) == ("s", "i")
    assert instance_of(MappingProxyType({"service.name": "s", "k8s.pod.name": "p"})) == ("s", "p")
    assert instance_of(MappingProxyType({"service.name": "s", "host.name": "h"})) == ("s", "h")
    assert instance_of(MappingProxyType({})) == ("unknown_service", "")


def test_counts_and_last_seen_per_instance_and_model() -> None:
    clock = _clock()
    seen = SeenProcessor(clock=clock.__next__)
    pipeline = Pipeline(ReferenceStore(), processors=[seen])
    workload = Workload(seed=11)
    spans = workload.spans(60)
    pipeline.export(Signal.TRACES, encode_spans(spans).SerializeToString())
    pipeline.export(Signal.LOGS, encode_logs(workload.logs(25)).SerializeToString())
    pipeline.export(Signal.METRICS, encode_metrics(workload.metrics(15)).SerializeToString())
    instances = seen.instances()
    assert sum(i.spans for i in instances) == 60
    assert sum(i.logs for i in instances) == 25
    assert sum(i.metric_points for i in instances) == 15
    for i in instances:
        key = (i.service_name, i.instance)
        assert i.spans == sum(1 for s in spans if instance_of(s.resource_attributes) == key)
        assert i.instance  # the workload's pods name themselves
    models = {m.model_name: m for m in seen.models()}
    expected: dict[str, int] = {}
    for s in spans:
        if s.model_name is not None:
            expected[s.model_name] = expected.get(s.model_name, 0) + 1
    assert {k: m.spans for k, m in models.items()} == expected
    assert {m.last_seen_unix_nano for m in models.values()} == {1000}
    assert max(i.last_seen_unix_nano for i in instances) == 1002


def test_most_recent_first_and_bounded() -> None:
    clock = _clock()
    seen = SeenProcessor(capacity=2, clock=clock.__next__)
    base = Workload(seed=12).spans(1)[0]
    for pod in ("a", "b", "c", "b"):
        resource = MappingProxyType({"service.name": "svc", "k8s.pod.name": pod})
        span = dataclasses.replace(base, resource_attributes=resource, model_name=f"m-{pod}")
        seen.on_spans([span], [resource])
    assert [(i.instance, i.spans) for i in seen.instances()] == [("b", 2), ("c", 1)]
    assert [(m.model_name, m.spans) for m in seen.models()] == [("m-b", 2), ("m-c", 1)]


def test_spans_of_several_resources_in_one_batch() -> None:
    seen = SeenProcessor(clock=_clock().__next__)
    base = Workload(seed=13).spans(1)[0]
    r1 = MappingProxyType({"service.name": "x", "service.instance.id": "1"})
    r2 = MappingProxyType({"service.name": "y"})
    spans: list[Span] = [
        dataclasses.replace(base, resource_attributes=r) for r in (r1, r2, r2, r1, r2)
    ]
    seen.on_spans(spans, [r1, r2])
    assert {(i.service_name, i.instance): i.spans for i in seen.instances()} == {
        ("x", "1"): 2,
        ("y", ""): 3,
    }


def test_registered_at_start_up_and_fed_over_http_and_shut_down_on_stop() -> None:
    seen = SeenProcessor()
    stopped: list[bool] = []
    seen.shutdown = lambda: stopped.append(True)  # type: ignore[method-assign]
    spans = Workload(seed=14).spans(20)
    collector = BackgroundCollector(ReferenceStore(), processors=[seen])
    with collector:
        assert collector.endpoints is not None
        url = collector.endpoints.http_url
        json = {"Content-Type": "application/json"}
        response = httpx.post(url + "/v1/traces", content=dumps(encode_spans(spans)), headers=json)
        assert response.status_code == 200
    assert sum(i.spans for i in seen.instances()) == 20
    assert stopped == [True]


def test_fed_over_grpc_too() -> None:
    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

    seen = SeenProcessor()
    with BackgroundCollector(ReferenceStore(), processors=[seen]) as collector:
        assert collector.endpoints is not None
        with grpc.insecure_channel(collector.endpoints.grpc_target) as channel:
            stub = logs_service_pb2_grpc.LogsServiceStub(channel)  # type: ignore[no-untyped-call]
            stub.Export(encode_logs(Workload(seed=15).logs(9)), timeout=10)
    assert sum(i.logs for i in seen.instances()) == 9
