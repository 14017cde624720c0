from __future__ import annotations

import pytest

from infertrace.config import (
    DEFAULT_MAX_BODY_BYTES,
    ConfigError,
    Settings,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", 1048576),
        ("20MiB", 20 * 2**20),
        ("512 KiB", 512 * 1024),
        ("1mb", 10**6),
        ("2g", 2 * 2**30),
        (7, 7),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-5", "0", "12 parsecs", "1.5MiB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("6h", 21600.0),
        ("2d", 172800.0),
        ("0.5s", 0.5),
        (3, 3.0),
    ],
)
def test_parse_duration(text: str | float, expected: float) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "0", "-1h", "5w"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.grpc_port, s.store) == ("127.0.0.1", 4318, 4317, "memory")
    assert (s.span_capacity, s.log_capacity, s.metric_capacity) == (10_000, 50_000, 100_000)
    assert s.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 20 * 2**20 and s.max_age is None


def test_from_env_then_overrides() -> None:
    env = {
        "INFERTRACE_PORT": "9000",
        "INFERTRACE_GRPC_PORT": "9001",
        "INFERTRACE_SPAN_CAPACITY": "123",
        "INFERTRACE_MAX_AGE": "2h",
        "INFERTRACE_MAX_BODY_BYTES": "1MiB",
        "INFERTRACE_STORE": "postgres",
        "INFERTRACE_DSN": "postgresql://x/y",
        "INFERTRACE_HOST": "",
        "UNRELATED": "1",
    }
    s = Settings.from_env(env, port=9100, host=None)
    assert (s.port, s.grpc_port, s.span_capacity, s.max_age) == (9100, 9001, 123, 7200.0)
    assert (s.max_body_bytes, s.store, s.dsn, s.host) == (
        2**20,
        "postgres",
        "postgresql://x/y",
        "127.0.0.1",
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INFERTRACE_PORT": "http"}, "INFERTRACE_PORT must be an integer"),
        ({"INFERTRACE_PORT": "70000"}, "port must be 0..65535"),
        ({"INFERTRACE_STORE": "sqlite"}, "store must be one of memory, postgres"),
        ({"INFERTRACE_SPAN_CAPACITY": "0"}, "span_capacity must be at least 1"),
        ({"INFERTRACE_MAX_AGE": "forever"}, "INFERTRACE_MAX_AGE 'forever' is not a duration"),
        ({"INFERTRACE_MIGRATE": "maybe"}, "INFERTRACE_MIGRATE must be true or false"),
        ({"INFERTRACE_POOL_SIZE": "0"}, "pool_size must be at least 1"),
    ],
)
def test_bad_environment_names_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("raw", "expected"), [("0", False), ("false", False), ("No", False), ("1", True), ("yes", True)]
)
def test_postgres_settings_from_env(raw: str, expected: bool) -> None:
    s = Settings.from_env({"INFERTRACE_MIGRATE": raw, "INFERTRACE_POOL_SIZE": "7"})
    assert (s.migrate, s.pool_size) == (expected, 7)
    assert Settings().migrate is True and Settings().pool_size == 4


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("vllm-llama=meta-llama/Llama-3.1-8B", (("vllm-llama", "meta-llama/Llama-3.1-8B"),)),
        (" a = m1 , b=m2,", (("a", "m1"), ("b", "m2"))),
        ("svc=name=with=equals", (("svc", "name=with=equals"),)),
        ("a=m,a=m", (("a", "m"), ("a", "m"))),
    ],
)  # fmt: skip
def test_model_for_from_env(raw: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert Settings.from_env({"INFERTRACE_MODEL_FOR": raw}).model_for == expected
    assert Settings.from_env({"INFERTRACE_MODEL_FOR": raw}, model_for=(("x", "y"),)).model_for == (
        ("x", "y"),
    )  # a flag wins over the variable
    assert Settings().model_for == ()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("vllm-llama", "INFERTRACE_MODEL_FOR 'vllm-llama' is not SERVICE=MODEL"),
        ("=m", "INFERTRACE_MODEL_FOR '=m' is not SERVICE=MODEL"),
        ("a=m,b=", "INFERTRACE_MODEL_FOR 'b=' is not SERVICE=MODEL"),
        ("a=m1,a=m2", "model_for names two models for service 'a': 'm1' and 'm2'"),
    ],
)
def test_bad_model_for_names_the_setting(raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({"INFERTRACE_MODEL_FOR": raw})


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--model-for", "just-a-service"], {}, "Invalid value for '--model-for'"),
        (["--model-for", "a=m", "--model-for", "b"], {}, "'b' is not SERVICE=MODEL"),
        (["--model-for", "a=m1", "--model-for", "a=m2"], {}, "two models for service 'a'"),
        ([], {"INFERTRACE_MODEL_FOR": "a=m,oops"}, "INFERTRACE_MODEL_FOR 'oops' is not"),
    ],
)
def test_serve_refuses_a_bad_model_for_as_a_usage_error(
    args: list[str], env: dict[str, str], message: str
) -> None:
    from click.testing import CliRunner

    from infertrace.cli.serve import serve

    result = CliRunner().invoke(serve, args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
