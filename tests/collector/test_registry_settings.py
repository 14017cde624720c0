"""The registry's settings of ``infertrace serve``: flags, INFERTRACE_* variables, refusals."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from infertrace.cli import main
from infertrace.config import ConfigError, Settings


def test_defaults_follow_the_issue() -> None:
    settings = Settings()
    assert (settings.stale_after, settings.degraded_error_rate) == (60.0, 0.5)
    assert settings.health_check_interval == 10.0


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("STALE_AFTER", "90s", "stale_after", 90.0),
        ("STALE_AFTER", "2m", "stale_after", 120.0),
        ("STALE_AFTER", "1.5", "stale_after", 1.5),
        ("HEALTH_CHECK_INTERVAL", "30s", "health_check_interval", 30.0),
        ("DEGRADED_ERROR_RATE", "0.25", "degraded_error_rate", 0.25),
        ("DEGRADED_ERROR_RATE", "1", "degraded_error_rate", 1.0),
    ],
)
def test_environment_variables(variable: str, value: str, field: str, expected: float) -> None:
    settings = Settings.from_env({f"INFERTRACE_{variable}": value})
    assert getattr(settings, field) == expected


def test_a_flag_wins_over_the_variable() -> None:
    settings = Settings.from_env({"INFERTRACE_STALE_AFTER": "90s"}, stale_after=5.0)
    assert settings.stale_after == 5.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STALE_AFTER", "soon"),
        ("STALE_AFTER", "0s"),
        ("HEALTH_CHECK_INTERVAL", "-1"),
        ("DEGRADED_ERROR_RATE", "half"),
        ("DEGRADED_ERROR_RATE", "0"),
        ("DEGRADED_ERROR_RATE", "1.5"),
        ("DEGRADED_ERROR_RATE", "nan"),
    ],
)
def test_bad_values_are_refused_naming_them(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({f"INFERTRACE_{variable}": value})
    message = str(caught.value).lower()
    assert variable.lower() in message.replace("infertrace_", "")
    assert value.lower() in message


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--stale-after", "soon"), ("--degraded-error-rate", "0"), ("--health-check-interval", "x")],
)
def test_serve_refuses_bad_flags_before_starting(flag: str, value: str) -> None:
    result = CliRunner().invoke(main, ["serve", flag, value])
    assert result.exit_code == 2
    assert flag in result.output
    assert value in result.output
