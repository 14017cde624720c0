"""The error window, the telemetry status rule and the periodic thread."""

from __future__ import annotations

import random
import threading

import pytest

from infertrace.registry import ServiceStatus
from infertrace.registry.health import ErrorWindow, Periodic, PodTelemetry, telemetry_status

H, U, D, DR, UN = (ServiceStatus.HEALTHY, ServiceStatus.UNHEALTHY, ServiceStatus.DEGRADED,
                   ServiceStatus.DRAINING, ServiceStatus.UNKNOWN)  # fmt: skip


def test_the_window_matches_a_plain_list_of_recent_counts() -> None:
    """Random adds over 200 seconds; the totals at each second equal a brute-force sum
    over the adds of the last ``width`` seconds."""
    rng = random.Random(11)
    width = 7
    window = ErrorWindow(width)
    added: list[tuple[int, int, int]] = []
    second = 1_000
    for _ in range(2_000):
        second += rng.choice([0, 0, 0, 1, 1, 2, 9])
        spans = rng.randrange(1, 50)
        errors = rng.randrange(spans + 1)
        window.add(second, spans, errors)
        added.append((second, spans, errors))
        window._check()
        recent = [(n, e) for s, n, e in added if second - width < s <= second]
        assert window.totals(second) == (sum(n for n, _ in recent), sum(e for _, e in recent))


def test_an_add_older_than_its_bucket_is_ignored() -> None:
    window = ErrorWindow(5)
    window.add(100, 10, 1)
    window.add(95, 7, 7)  # same bucket, five seconds older: outside the window
    assert window.totals(100) == (10, 1)
    window.add(99, 3, 0)
    assert window.totals(100) == (13, 1)
    assert window.totals(200) == (0, 0)


@pytest.mark.parametrize(("window", "width"), [(0.2, 1), (1.0, 1), (1.5, 2), (60, 60)])
def test_for_window_rounds_up_to_whole_seconds(window: float, width: int) -> None:
    assert ErrorWindow.for_window(window).width == width


def test_a_zero_width_is_refused() -> None:
    with pytest.raises(ValueError, match="0"):
        ErrorWindow(0)


@pytest.mark.parametrize(
    ("current", "silent", "spans", "errors", "expected"),
    [
        (H, 0, 0, 0, H),
        (U, 0, 0, 0, H),
        (UN, 0, 0, 0, H),
        (H, 10, 0, 0, U),  # stale_after is 10
        (D, 10, 100, 100, U),  # stale wins over degraded
        (H, 9, 20, 11, D),  # 55 % > 50 %, 20 >= min_requests
        (H, 9, 20, 10, H),  # 50 % is not above
        (H, 9, 19, 19, H),  # too few requests
        (D, 0, 20, 0, H),
        (DR, 10, 100, 100, DR),  # draining is kept
        (DR, 0, 0, 0, DR),
    ],
)
def test_the_telemetry_rule(
    current: ServiceStatus, silent: int, spans: int, errors: int, expected: ServiceStatus
) -> None:
    got = telemetry_status(
        current, silent_for=silent, stale_after=10, spans=spans, errors=errors,
        min_requests=20, degraded_error_rate=0.5,
    )  # fmt: skip
    assert got is expected


def test_periodic_calls_its_action_until_stopped_and_survives_a_failure() -> None:
    calls: list[int] = []
    enough = threading.Event()

    def action() -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("one bad round")
        if len(calls) >= 4:
            enough.set()

    periodic = Periodic(0.01, action, "test-periodic")
    periodic.start()
    assert enough.wait(10)
    periodic.stop()
    periodic.stop()
    after = len(calls)
    assert not periodic._thread.is_alive()
    assert len(calls) == after


@pytest.mark.parametrize("interval", [0, -1.0])
def test_periodic_refuses_a_bad_interval(interval: float) -> None:
    with pytest.raises(ValueError, match="interval"):
        Periodic(interval, lambda: None, "x")


def test_pod_telemetry_remembers_and_forgets_each_pod() -> None:
    s = 1_000_000_000
    heard = PodTelemetry(window=10)
    heard.heard("a:1", 100 * s)  # alive, no spans: no window
    heard.heard("b:1", 100 * s, spans=10, errors=4)
    heard.heard("b:1", 105 * s, spans=10, errors=0)
    heard._check()
    assert heard.keys() == {"a:1", "b:1"}
    assert (heard.last_heard("a:1"), heard.last_heard("b:1"), heard.last_heard("c:1")) == (
        100 * s, 105 * s, 0,
    )  # fmt: skip
    assert heard.totals("a:1", 105 * s) is None
    assert heard.totals("b:1", 105 * s) == (20, 4)
    assert heard.totals("b:1", 111 * s) == (10, 0)  # second 100 left the 10 s window
    heard.forget("b:1")
    heard._check()
    assert heard.keys() == {"a:1"}
    assert heard.totals("b:1", 105 * s) is None
