from __future__ import annotations

import pytest

from infertrace.config import ConfigError, Settings
from infertrace.telemetry.factory import build_store, purge_interval
from infertrace.telemetry.protocols import TelemetryStore


def test_memory_store_gets_the_capacities() -> None:
    store = build_store(Settings(span_capacity=7, log_capacity=8, metric_capacity=9, max_age=60))
    try:
        assert isinstance(store, TelemetryStore)
        stats = store.stats()
        assert (stats.spans.capacity, stats.logs.capacity, stats.metrics.capacity) == (7, 8, 9)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (Settings(store="postgres"), "--store postgres needs --dsn"),
        (Settings(store="memory", dsn="postgresql://x"), "--dsn applies to --store postgres only"),
    ],
)
def test_unusable_settings_say_why(settings: Settings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_store(settings)


@pytest.mark.parametrize(("max_age", "interval"), [(3600.0, 10.0), (4.0, 2.0)])
def test_purge_interval(max_age: float, interval: float) -> None:
    assert purge_interval(max_age) == interval
