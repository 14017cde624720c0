"""The package root exposes exactly its curated public surface."""

import importlib

import pytest

import infertrace

ISSUE_NAMES = ["Span", "SpanFilter", "LogRecord", "LogFilter", "MetricPoint", "MetricFilter",
               "MemoryStore", "TraceNotFound"]  # fmt: skip


def test_root_all_is_sorted_unique_and_importable() -> None:
    names = infertrace.__all__
    assert len(names) == len(set(names))
    assert sorted(names) == list(names)
    for name in names:
        assert hasattr(infertrace, name), name


@pytest.mark.parametrize("name", ISSUE_NAMES)
def test_documented_names_are_exported(name: str) -> None:
    assert name in infertrace.__all__
    assert getattr(importlib.import_module("infertrace"), name) is getattr(infertrace, name)


def test_memory_store_satisfies_every_protocol() -> None:
    from infertrace.telemetry.analytics import AnalyticsStore
    from infertrace.telemetry.protocols import TelemetryStore

    store = infertrace.MemoryStore(span_capacity=4)
    assert isinstance(store, TelemetryStore)
    assert isinstance(store, AnalyticsStore)


@pytest.mark.parametrize(
    "package",
    [
        "infertrace.api",
        "infertrace.cli",
        "infertrace.collector",
        "infertrace.collector.otlp",
        "infertrace.registry",
        "infertrace.activity",
    ],
)
def test_package_all_is_sorted_unique_and_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names))
    assert sorted(names) == list(names)
    for name in names:
        assert hasattr(module, name), name
