"""Collector settings: one frozen record, from command-line flags or ``INFERTRACE_*``.

Every setting has a flag of ``infertrace serve`` and an environment variable
named ``INFERTRACE_`` + the field name in capitals (``INFERTRACE_SPAN_CAPACITY``);
a flag wins over the variable, the variable over the default. Sizes accept
``KiB``/``MiB``/``GiB`` suffixes and durations ``s``/``m``/``h``/``d``; a
repeatable flag's variable is a comma-separated list (``INFERTRACE_MODEL_FOR=
svc-a=model-a,svc-b=model-b``).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from infertrace.errors import InferTraceError

ENV_PREFIX = "INFERTRACE_"
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
"""20 MiB, the OpenTelemetry Collector's default request size limit."""
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
"""Seconds a stopping collector gives accepted writes to commit (PostgreSQL)."""
DEFAULT_MAX_CONNECTIONS = 1024
"""Open connections per listening port; clamped to the open-file limit at start."""
DEFAULT_RECEIVE_TIMEOUT = 10.0
"""Seconds a client gets to send a request's HTTP headers or its gRPC message."""
DEFAULT_IDLE_TIMEOUT = 30.0
"""Seconds an idle keep-alive connection is kept. Longer than the OpenTelemetry
SDKs' 5 s export interval, so exporters reuse their connection instead of racing
a close by the server (uvicorn's own default is exactly 5 s)."""
DEFAULT_FSYNC = "interval=100ms"
"""The data directory's fsync policy: an answer waits for the next group flush."""
DEFAULT_SNAPSHOT_INTERVAL = 300.0
DEFAULT_SNAPSHOT_LOG_BYTES = 256 * 1024**2

StoreKind = Literal["memory", "postgres"]
STORE_KINDS: tuple[StoreKind, ...] = ("memory", "postgres")

_SIZE_UNITS = {"": 1, "b": 1, "kib": 1024, "kb": 1000, "mib": 1024**2, "mb": 1000**2}
_SIZE_UNITS |= {"gib": 1024**3, "gb": 1000**3, "k": 1024, "m": 1024**2, "g": 1024**3}
_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(InferTraceError, ValueError):
    """A setting has a value the collector cannot use; the message names it."""


def parse_size(text: str | int, what: str = "size") -> int:
    """Bytes of ``"20MiB"``, ``"512k"``, ``"1048576"`` or an int; must be positive."""
    if isinstance(text, int):
        value = text
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
        unit = match.group(2).lower() if match else ""
        if not match or unit not in _SIZE_UNITS:
            raise ConfigError(f"{what} {text!r} is not a size like 20MiB, 512KiB or 1048576")
        value = int(match.group(1)) * _SIZE_UNITS[unit]
    if value <= 0:
        raise ConfigError(f"{what} must be positive, got {text!r}")
    return value


def parse_bound(text: str | float, what: str = "time bound") -> float:
    """Seconds of a duration as :func:`parse_duration`, or ``inf`` for ``"off"``."""
    if isinstance(text, str) and text.strip().lower() in ("off", "none", "unbounded"):
        return math.inf
    if isinstance(text, int | float) and text == math.inf:
        return math.inf
    try:
        return parse_duration(text, what)
    except ConfigError:
        raise ConfigError(
            f"{what} {text!r} is not a duration like 90s, 15m, 6h or 2d, or off"
        ) from None


def parse_duration(text: str | float, what: str = "duration") -> float:
    """Seconds of ``"90s"``, ``"15m"``, ``"6h"``, ``"2d"``, ``"3600"`` or a number; positive."""
    if isinstance(text, int | float):
        value = float(text)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([a-zA-Z]?)\s*", text)
        unit = match.group(2).lower() if match else ""
        if not match or unit not in _DURATION_UNITS:
            raise ConfigError(f"{what} {text!r} is not a duration like 90s, 15m, 6h or 2d")
        value = float(match.group(1)) * _DURATION_UNITS[unit]
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{what} must be a positive duration, got {text!r}")
    return value


def parse_model_for(text: str, what: str = "model mapping") -> tuple[str, str]:
    """(service, model) of ``"SERVICE=MODEL"``: split at the first ``=``, both non-empty."""
    service, sep, model = text.partition("=")
    service, model = service.strip(), model.strip()
    if not sep or not service or not model:
        raise ConfigError(
            f"{what} {text!r} is not SERVICE=MODEL, e.g. vllm-llama=meta-llama/Llama-3.1-8B"
        )
    return service, model


def parse_model_for_list(text: str, what: str) -> tuple[tuple[str, str], ...]:
    """The (service, model) pairs of a comma-separated ``"SVC=MODEL,SVC=MODEL"``."""
    return tuple(parse_model_for(item, what) for item in text.split(",") if item.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``infertrace serve`` can be told. Checked on construction.

    ``port``/``grpc_port`` 0 bind a free port (the bound ports are printed).
    ``max_age`` (seconds) drops telemetry older than that; None keeps it until
    capacity evicts it. ``max_inflight`` bounds concurrent OTLP/HTTP requests
    and, separately, gRPC exports being processed and gRPC calls waiting for
    their message: beyond it the collector answers 503 / UNAVAILABLE with
    Retry-After instead of queueing unbounded bodies in memory.
    ``accept_past`` / ``accept_future`` (seconds, ``inf`` for no bound) bound
    record times around the collector's clock:
    records outside are refused one by one; the past side defaults to ``max_age``
    plus an hour, or a week without ``max_age``. ``pool_size`` and ``migrate`` (upgrade the schema
    at start-up) apply to the PostgreSQL store. ``api_token`` guards the query
    APIs and ``ingest_token`` OTLP ingest (HTTP and gRPC) with a bearer token.

    Connection hygiene (:mod:`infertrace.collector.connections`):
    ``max_connections`` caps open connections on each port (beyond it the
    oldest idle one is closed, or the new one refused with 503 when none is
    idle); ``receive_timeout`` is how long a client has to send a request's
    headers, and then its body (HTTP), or its message (gRPC); ``idle_timeout``
    closes keep-alive connections that carry no request for that long.

    ``shutdown_timeout`` is how long a stopping collector waits for accepted
    writes to commit (PostgreSQL); what is still uncommitted then is answered
    503 and named in the exit message.

    ``model_for`` is (service, model) pairs: the model of a service's spans that
    carry inference data when neither they, their resource nor what their pod is
    known to serve names one (:mod:`infertrace.collector.models`). A service may
    appear once.

    The pod registry: a pod without telemetry for ``stale_after`` seconds turns
    unhealthy; one whose share of error spans passes ``degraded_error_rate``
    degraded; pods with a health-check URL are polled every ``health_check_interval``.

    Durability (:mod:`infertrace.engine.datadir`): ``data_dir`` keeps what the server
    holds in memory (the memory store's telemetry, the in-memory registry and
    activity database) in a write-ahead log and snapshots there, unless
    ``no_persist``; ``fsync`` is ``always``, ``interval=DURATION`` or ``off``; a
    snapshot is taken every ``snapshot_interval`` seconds and after
    ``snapshot_log_bytes`` of log; ``move_damaged_aside`` lets start-up move a
    damaged part of the log aside instead of refusing to start.

    The activity database (:mod:`infertrace.activity`): ``activity_limit`` caps
    records per kind (``("developers", 100000)`` pairs; none: unbounded);
    ``activity_snapshot_dir`` is where REST snapshots go (default
    ``<data_dir>/activity`` when persisting, else a temporary directory); the
    coding-agent feed reads metrics and events named under each ``agent_prefix``
    (none: ``claude_code``) and maps resource attributes to developer fields by
    ``activity_attribute`` entries like ``department=division``.
    """

    host: str = "127.0.0.1"
    port: int = 4318
    grpc_port: int = 4317
    store: StoreKind = "memory"
    dsn: str | None = None
    span_capacity: int = 10_000
    log_capacity: int = 50_000
    metric_capacity: int = 100_000
    max_age: float | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_inflight: int = 64
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    receive_timeout: float = DEFAULT_RECEIVE_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    pool_size: int = 4
    migrate: bool = True
    api_token: str | None = None
    ingest_token: str | None = None
    accept_past: float | None = None
    accept_future: float = 300.0
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    model_for: tuple[tuple[str, str], ...] = ()
    stale_after: float = 60.0
    degraded_error_rate: float = 0.5
    health_check_interval: float = 10.0
    data_dir: str | None = None
    no_persist: bool = False
    fsync: str = DEFAULT_FSYNC
    snapshot_interval: float = DEFAULT_SNAPSHOT_INTERVAL
    snapshot_log_bytes: int = DEFAULT_SNAPSHOT_LOG_BYTES
    move_damaged_aside: bool = False
    activity_limit: tuple[tuple[str, int], ...] = ()
    activity_snapshot_dir: str | None = None
    agent_prefix: tuple[str, ...] = ()
    activity_attribute: tuple[str, ...] = ()

    @property
    def persist_dir(self) -> str | None:
        """The data directory to keep, or None (none given, or ``no_persist``)."""
        return None if self.no_persist or not self.data_dir else self.data_dir

    def __post_init__(self) -> None:
        for name in ("port", "grpc_port"):
            port = getattr(self, name)
            if not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be 0..65535, got {port}")
        if self.store not in STORE_KINDS:
            raise ConfigError(f"store must be one of {', '.join(STORE_KINDS)}, got {self.store!r}")
        positive = ("span_capacity", "log_capacity", "metric_capacity", "max_inflight", "pool_size")
        for name in ("max_connections", *positive):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_body_bytes < 1:
            raise ConfigError(f"max_body_bytes must be positive, got {self.max_body_bytes}")
        if self.max_age is not None:
            parse_duration(self.max_age, "max_age")
        parse_duration(self.receive_timeout, "receive_timeout")
        parse_duration(self.idle_timeout, "idle_timeout")
        if self.accept_past is not None:
            parse_bound(self.accept_past, "accept_past")
        parse_bound(self.accept_future, "accept_future")
        parse_duration(self.shutdown_timeout, "shutdown_timeout")
        parse_duration(self.stale_after, "stale_after")
        parse_duration(self.health_check_interval, "health_check_interval")
        parse_fsync(self.fsync)
        parse_duration(self.snapshot_interval, "snapshot_interval")
        if self.snapshot_log_bytes < 1:
            raise ConfigError(f"snapshot_log_bytes must be positive, got {self.snapshot_log_bytes}")
        if not 0.0 < self.degraded_error_rate <= 1.0:
            raise ConfigError(
                f"degraded_error_rate must be in (0, 1], got {self.degraded_error_rate}"
            )
        services: dict[str, str] = {}
        for pair in self.model_for:
            if not (
                isinstance(pair, tuple)
                and len(pair) == 2
                and all(isinstance(p, str) and p.strip() for p in pair)
            ):
                raise ConfigError(f"model_for entries must be (service, model), got {pair!r}")
            service, model = pair
            if services.setdefault(service, model) != model:
                raise ConfigError(
                    f"model_for names two models for service {service!r}:"
                    f" {services[service]!r} and {model!r}"
                )
        kinds = [limit[0] for limit in self.activity_limit]
        for kind, limit in self.activity_limit:
            parse_activity_limit(f"{kind}={limit}")
        if len(set(kinds)) != len(kinds):
            raise ConfigError(f"activity_limit names a kind twice: {kinds}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``INFERTRACE_*`` variables in ``environ``, then ``overrides``."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _convert(field.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def parse_fsync(text: str, what: str = "fsync") -> str:
    """``always``, ``off`` or ``interval=DURATION`` (``interval=100ms``), as given."""
    from infertrace.engine.wal import Fsync

    try:
        Fsync.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    return text


ACTIVITY_KINDS = ("developers", "commits", "changes", "sessions")
"""The record kinds an activity limit may name."""


def parse_activity_limit(text: str, what: str = "activity limit") -> tuple[str, int]:
    """``("developers", 100000)`` of ``"developers=100000"``."""
    kind, sep, number = text.partition("=")
    kind = kind.strip()
    if not sep or kind not in ACTIVITY_KINDS or not number.strip().isdigit():
        raise ConfigError(
            f"{what} {text!r} must be KIND=N with KIND one of {', '.join(ACTIVITY_KINDS)}"
        )
    return kind, int(number)


def _convert(name: str, raw: str) -> Any:
    if name in ("host", "store", "dsn", "api_token", "ingest_token", "data_dir"):
        return raw
    if name == "activity_snapshot_dir":
        return raw
    if name == "activity_limit":
        items = [item for item in raw.split(",") if item.strip()]
        return tuple(parse_activity_limit(item, ENV_PREFIX + "ACTIVITY_LIMIT") for item in items)
    if name in ("agent_prefix", "activity_attribute"):
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if name == "fsync":
        return parse_fsync(raw, ENV_PREFIX + "FSYNC")
    if name == "snapshot_log_bytes":
        return parse_size(raw, ENV_PREFIX + "SNAPSHOT_LOG_BYTES")
    if name in ("no_persist", "move_damaged_aside"):
        return _flag(name, raw)
    if name in (
        "max_age",
        "receive_timeout",
        "idle_timeout",
        "stale_after",
        "health_check_interval",
        "snapshot_interval",
    ):
        return parse_duration(raw, ENV_PREFIX + name.upper())
    if name in ("accept_past", "accept_future"):
        return parse_bound(raw, ENV_PREFIX + name.upper())
    if name == "model_for":
        return parse_model_for_list(raw, ENV_PREFIX + "MODEL_FOR")
    if name == "degraded_error_rate":
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(
                f"{ENV_PREFIX}DEGRADED_ERROR_RATE must be a number, got {raw!r}"
            ) from None
    if name == "shutdown_timeout":
        return parse_duration(raw, ENV_PREFIX + "SHUTDOWN_TIMEOUT")
    if name == "max_body_bytes":
        return parse_size(raw, ENV_PREFIX + "MAX_BODY_BYTES")
    if name == "migrate":
        return _flag(name, raw)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be an integer, got {raw!r}") from None


def _flag(name: str, raw: str) -> bool:
    flag = raw.strip().lower()
    if flag not in ("1", "true", "yes", "0", "false", "no"):
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, got {raw!r}")
    return flag in ("1", "true", "yes")
