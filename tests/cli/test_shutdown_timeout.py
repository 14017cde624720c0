"""``--shutdown-timeout`` / ``INFERTRACE_SHUTDOWN_TIMEOUT``: parsed, checked, defaulted."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from infertrace.cli import main
from infertrace.config import DEFAULT_SHUTDOWN_TIMEOUT, ConfigError, Settings


def test_default_env_and_flag() -> None:
    assert Settings().shutdown_timeout == DEFAULT_SHUTDOWN_TIMEOUT == 10.0
    env = {"INFERTRACE_SHUTDOWN_TIMEOUT": "2m"}
    assert Settings.from_env(env).shutdown_timeout == 120.0
    assert Settings.from_env(env, shutdown_timeout=3.0).shutdown_timeout == 3.0


@pytest.mark.parametrize("bad", ["0", "-1s", "soon"])
def test_bad_values_name_the_variable(bad: str) -> None:
    with pytest.raises(ConfigError, match="SHUTDOWN_TIMEOUT"):
        Settings.from_env({"INFERTRACE_SHUTDOWN_TIMEOUT": bad})


def test_the_flag_is_documented() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert "--shutdown-timeout" in result.output
    assert "INFERTRACE_SHUTDOWN_TIMEOUT" in result.output
