"""The schema: tables, indexes and the versioned, idempotent migrations.

Times are ``bigint`` unix nanoseconds (``timestamptz`` would round to
microseconds, and stores must hand back exactly what they were given). Every
table has a ``seq`` filled from one sequence in arrival order: it breaks ties
between records with the same time (newest arrival first), like the memory store.

The three record tables are partitioned by day on their time column: native
range partitions (see ``partitions``) or, when the extension is available,
TimescaleDB hypertables with one-day chunks (see ``timescale``). Which one was
chosen is recorded in ``infertrace_settings`` so every process agrees.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

DAY_NS = 86_400 * 1_000_000_000

TIME_COLUMNS = {
    "spans": "start_time_unix_nano",
    "logs": "time_unix_nano",
    "metric_points": "time_unix_nano",
}
"""Each record table and the column it is partitioned (and aged) by."""

_SPANS = """
CREATE TABLE spans (
    seq bigint NOT NULL DEFAULT nextval('infertrace_seq'),
    trace_id bytea NOT NULL,
    span_id bytea NOT NULL,
    parent_span_id bytea NOT NULL,
    service_name text NOT NULL,
    operation_name text NOT NULL,
    kind smallint NOT NULL,
    start_time_unix_nano bigint NOT NULL,
    duration_nanos bigint NOT NULL,
    status_code smallint NOT NULL,
    status_message text NOT NULL,
    model_name text,
    model_version text,
    batch_size integer,
    input_tokens integer,
    output_tokens integer,
    gpu_utilization double precision,
    time_to_first_token_nanos bigint,
    attributes jsonb NOT NULL,
    resource_attributes jsonb NOT NULL,
    events jsonb NOT NULL,
    links jsonb NOT NULL
)"""

_LOGS = """
CREATE TABLE logs (
    seq bigint NOT NULL DEFAULT nextval('infertrace_seq'),
    time_unix_nano bigint NOT NULL,
    observed_time_unix_nano bigint NOT NULL,
    severity_number smallint NOT NULL,
    severity_text text NOT NULL,
    body text NOT NULL,
    trace_id bytea NOT NULL,
    span_id bytea NOT NULL,
    service_name text NOT NULL,
    attributes jsonb NOT NULL,
    resource_attributes jsonb NOT NULL
)"""

_METRICS = """
CREATE TABLE metric_points (
    seq bigint NOT NULL DEFAULT nextval('infertrace_seq'),
    name text NOT NULL,
    type smallint NOT NULL,
    unit text NOT NULL,
    description text NOT NULL,
    service_name text NOT NULL,
    time_unix_nano bigint NOT NULL,
    start_time_unix_nano bigint NOT NULL,
    value double precision,
    is_monotonic boolean NOT NULL,
    attributes jsonb NOT NULL,
    resource_attributes jsonb NOT NULL,
    histogram jsonb
)"""

_INDEXES = (
    # Unique: a span delivered twice (OTLP retries) is stored once. It includes
    # the partition key, as PostgreSQL and TimescaleDB require.
    "CREATE UNIQUE INDEX spans_trace_idx ON spans (trace_id, start_time_unix_nano DESC, span_id)",
    "CREATE INDEX spans_time_idx ON spans (start_time_unix_nano DESC, seq DESC)",
    "CREATE INDEX spans_service_idx ON spans (service_name, start_time_unix_nano DESC, seq DESC)",
    "CREATE INDEX spans_model_idx ON spans (model_name, start_time_unix_nano DESC, seq DESC)"
    " WHERE model_name IS NOT NULL",
    "CREATE INDEX logs_time_idx ON logs (time_unix_nano DESC, seq DESC)",
    "CREATE INDEX logs_service_idx ON logs (service_name, time_unix_nano DESC, seq DESC)",
    "CREATE INDEX logs_trace_idx ON logs (trace_id) WHERE trace_id <> ''::bytea",
    "CREATE INDEX metric_points_name_idx ON metric_points (name, time_unix_nano DESC, seq DESC)",
    "CREATE INDEX metric_points_time_idx ON metric_points (time_unix_nano DESC, seq DESC)",
)

_SIDE_TABLES = (
    # First/last start time of every trace: bounds get_trace to the partitions
    # that hold it instead of probing every partition's index.
    """CREATE TABLE trace_bounds (
        trace_id bytea PRIMARY KEY,
        first_start bigint NOT NULL,
        last_start bigint NOT NULL
    )""",
    "CREATE INDEX trace_bounds_last_idx ON trace_bounds (last_start)",
    # Ids of committed write groups: a retry after a lost COMMIT reply skips
    # a group that did commit, so logs and metrics are stored exactly once.
    """CREATE TABLE infertrace_batches (
        batch_id uuid PRIMARY KEY,
        committed_at timestamptz NOT NULL DEFAULT now()
    )""",
)


def _v1(conn: psycopg.Connection[object], layout: str) -> None:
    from infertrace.telemetry.postgres import timescale

    conn.execute("CREATE SEQUENCE infertrace_seq CACHE 64")
    for ddl, table in ((_SPANS, "spans"), (_LOGS, "logs"), (_METRICS, "metric_points")):
        if layout == "timescaledb":
            conn.execute(ddl)
            timescale.make_hypertable(conn, table, TIME_COLUMNS[table], DAY_NS)
        else:
            conn.execute(f"{ddl} PARTITION BY RANGE ({TIME_COLUMNS[table]})")
    for ddl in _INDEXES + _SIDE_TABLES:
        conn.execute(ddl)
    if layout == "timescaledb":
        timescale.configure_compression(conn)


def _v2(conn: psycopg.Connection[object], layout: str) -> None:
    # Nullable columns without defaults: no table rewrite, and TimescaleDB accepts them
    # on compressed hypertables too.
    conn.execute(
        "ALTER TABLE spans"
        " ADD COLUMN queue_time_nanos bigint,"
        " ADD COLUMN prefill_time_nanos bigint,"
        " ADD COLUMN decode_time_nanos bigint,"
        " ADD COLUMN e2e_time_nanos bigint,"
        " ADD COLUMN request_id text,"
        " ADD COLUMN finish_reason text"
    )


def _v3(conn: psycopg.Connection[object], layout: str) -> None:
    conn.execute("ALTER TABLE spans ADD COLUMN model_source text")  # nullable: no rewrite


def _v4(conn: psycopg.Connection[object], layout: str) -> None:
    # 0 (unspecified) for the points stored before: their temporality was not kept.
    conn.execute("ALTER TABLE metric_points ADD COLUMN temporality smallint NOT NULL DEFAULT 0")


def _v5(conn: psycopg.Connection[object], layout: str) -> None:
    # Constant defaults (what spans stored before carried, as far as anyone knew):
    # PostgreSQL 11+ adds such columns without rewriting the table.
    conn.execute(
        "ALTER TABLE spans"
        " ADD COLUMN trace_state text NOT NULL DEFAULT '',"
        " ADD COLUMN flags bigint NOT NULL DEFAULT 0,"
        " ADD COLUMN dropped_attributes_count integer NOT NULL DEFAULT 0,"
        " ADD COLUMN dropped_events_count integer NOT NULL DEFAULT 0,"
        " ADD COLUMN dropped_links_count integer NOT NULL DEFAULT 0"
    )


_REGISTRY = (
    # The pod registry (infertrace.registry.postgres): one row per ServiceInfo. Keys
    # sort in "C" collation, code point order, as the in-memory stores sort them;
    # the checks repeat the record's rules, so no other writer can break them.
    """CREATE TABLE registry_services (
        key text COLLATE "C" PRIMARY KEY,
        service_name text COLLATE "C" NOT NULL CHECK (service_name ~ '^[^:]+$'),
        pod_name text COLLATE "C" NOT NULL CHECK (pod_name ~ '^[^:]+$'),
        address text NOT NULL,
        port integer NOT NULL CHECK (port BETWEEN 0 AND 65535),
        health_check_url text,
        notification_url text,
        providers text[] NOT NULL,
        status text NOT NULL
            CHECK (status IN ('healthy', 'unhealthy', 'degraded', 'unknown', 'draining')),
        metadata jsonb NOT NULL,
        registered_at bigint,
        last_seen bigint,
        last_health_check bigint,
        last_status_change bigint,
        origin text NOT NULL CHECK (origin IN ('telemetry', 'registration', 'both')),
        CHECK (key = service_name || ':' || pod_name)
    )""",
    "CREATE INDEX registry_services_name_idx ON registry_services (service_name)",
    # No foreign key to registry_services: a subscription outlives its subscriber's
    # record, so a pod that re-registers keeps it (as in registry.core).
    """CREATE TABLE registry_subscriptions (
        subscriber_key text COLLATE "C" NOT NULL CHECK (subscriber_key ~ '^[^:]+:[^:]+$'),
        service_group text COLLATE "C" NOT NULL CHECK (service_group <> ''),
        PRIMARY KEY (subscriber_key, service_group)
    )""",
    "CREATE INDEX registry_subscriptions_group_idx ON registry_subscriptions (service_group)",
)


def _v6(conn: psycopg.Connection[object], layout: str) -> None:
    for ddl in _REGISTRY:
        conn.execute(ddl)


Migration = Callable[[psycopg.Connection[object], str], None]

MIGRATIONS: tuple[tuple[int, str, Migration], ...] = (
    (1, "spans, logs, metric points, trace bounds", _v1),
    (2, "span timing columns: queue, prefill, decode, end to end; request id, finish reason", _v2),
    (3, "span model source: which rule named the model", _v3),
    (4, "metric points keep their aggregation temporality", _v4),
    (5, "spans keep their trace state, flags and dropped counts", _v5),
    (6, "registry: services (pods) and subscriptions", _v6),
)
"""(version, description, function) in order; append, never edit, once released."""

LATEST = MIGRATIONS[-1][0]
