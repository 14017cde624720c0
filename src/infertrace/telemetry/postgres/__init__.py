"""The PostgreSQL / TimescaleDB store: durable telemetry behind the store protocols.

``PostgresStore`` is what ``--store postgres`` selects; ``migrate`` creates and
upgrades its schema (``infertrace db migrate``); ``ThrowawayCluster`` starts a
private server for tests and benchmarks.
"""

from infertrace.telemetry.postgres.cluster import ClusterError, ThrowawayCluster
from infertrace.telemetry.postgres.migrate import MigrationError, MigrationResult, migrate
from infertrace.telemetry.postgres.store import PostgresStore

__all__ = [
    "ClusterError",
    "MigrationError",
    "MigrationResult",
    "PostgresStore",
    "ThrowawayCluster",
    "migrate",
]
