"""The InferTrace error hierarchy: every exception class InferTrace defines is in it.

::

    InferTraceError
    ├── InvalidRecord (ValueError)        a record in a write is malformed; nothing stored
    ├── InvalidFilter (ValueError)        a query filter has a bad value
    ├── InvalidParameter (ValueError)     a request parameter has a bad value
    │   ├── api.params.BadParameter       ... of the REST API (str: "name: message")
    │   └── api.jaeger_params.ParamError  ... of the Jaeger API
    ├── TraceNotFound (KeyError)          get_trace on an unknown trace id
    ├── ServiceNotFound (KeyError)        a registry call names an unknown service key
    ├── RecordNotFound (KeyError)         an activity call names an unknown record
    ├── DuplicateRecord (ValueError)      an activity write repeats a stored id or email
    ├── CapacityExceeded (RuntimeError)   an activity write would pass a record limit
    ├── SnapshotInvalid (ValueError)      a snapshot file is corrupt, truncated or foreign
    ├── NotOwnerThread (RuntimeError)     a single-owner registry used from another thread
    ├── StoreOverloaded (RuntimeError)    the store cannot take a write now; retry later
    ├── StoreClosed (RuntimeError)        the store was closed
    ├── LogUnavailable (RuntimeError)     the write-ahead log cannot take a write now (disk)
    ├── WriteRefused (RuntimeError)       the database refused a write for good; nothing stored
    ├── BodyError                         an OTLP/HTTP request body is refused (400)
    │   ├── collector.body.UnsupportedMediaType     Content-Type or -Encoding (415)
    │   └── collector.body.BodyTooLarge             over the size limit (413)
    ├── config.ConfigError (ValueError)   a setting has a value the collector cannot use
    ├── cli.demo.DemoError                the demo cannot reach or talk to the collector
    ├── cli.offline.OfflineError          a data directory the offline tools cannot open
    ├── collector.grpc_gate.CallRefused   the gRPC call gate ended a call (its own code)
    ├── telemetry.postgres.migrate.MigrationError (RuntimeError)   schema not brought up
    ├── telemetry.postgres.cluster.ClusterError (RuntimeError)     throwaway cluster failed
    ├── api.client.ApiError               a query API call failed (status and detail)
    ├── api.export.ExportIncomplete (RuntimeError)   an export cannot be paged exactly
    │
    │   internal signals, raised and caught inside their own module:
    ├── telemetry.memory.common.BadMap               a malformed attribute map
    ├── telemetry.memory.spans._Rejected             a span the batch check refuses
    ├── telemetry.postgres.codec.EncodingProblem (ValueError)   text PostgreSQL cannot store
    ├── telemetry.postgres.queries.NoMatch           a filter nothing can match
    └── telemetry.postgres.writer._Cancelled         a commit given up by its waiter

How each is answered over HTTP (OTLP, REST, Jaeger) and gRPC is stated once, in
:mod:`infertrace.errormap`. Every message says what was wrong and with which value.
"""

from __future__ import annotations


class InferTraceError(Exception):
    """Root of every error InferTrace raises on purpose."""


class InvalidRecord(InferTraceError, ValueError):
    """A record in a write is malformed; the whole batch was rejected.

    ``index`` is the position of the first bad record in the batch; ``problems``
    lists ``(index, reason)`` of every bad record when the check that failed
    knows them all (it is at least the first), so a caller can drop them in one
    pass instead of retrying once per bad record.
    """

    def __init__(
        self, index: int, reason: str, problems: list[tuple[int, str]] | None = None
    ) -> None:
        self.index = index
        self.reason = reason
        self.problems: tuple[tuple[int, str], ...] = tuple(problems or [(index, reason)])
        super().__init__(f"record {index} rejected: {reason}")


class InvalidFilter(InferTraceError, ValueError):
    """A query filter holds a value the store cannot use."""


class InvalidParameter(InferTraceError, ValueError):
    """A request parameter has a value the API cannot use; ``name`` says which.

    ``message`` says what was wrong with the value; answered 422 by the REST
    API (in FastAPI's validation-error shape), 400 by the Jaeger API.
    """

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        self.message = message
        super().__init__(message)


class TraceNotFound(InferTraceError, KeyError):
    """No stored span has the requested trace id."""

    def __init__(self, trace_id_hex: str) -> None:
        self.trace_id = trace_id_hex
        super().__init__(f"trace {trace_id_hex} not found")

    def __str__(self) -> str:  # KeyError would repr() the message
        return f"trace {self.trace_id} not found"


class ServiceNotFound(InferTraceError, KeyError):
    """No registered service has the requested key (``service_name:pod_name``)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"service {key!r} not found")

    def __str__(self) -> str:  # KeyError would repr() the message
        return f"service {self.key!r} not found"


class RecordNotFound(InferTraceError, KeyError):
    """No stored activity record of ``kind`` (developer, commit, ...) has ``key``."""

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")

    def __str__(self) -> str:  # KeyError would repr() the message
        return f"{self.kind} {self.key!r} not found"


class DuplicateRecord(InferTraceError, ValueError):
    """An activity write would repeat a stored (or batch-mate's) id or unique field;
    nothing was written. ``problems`` lists ``(index, reason)`` of every such record."""

    def __init__(self, reason: str, problems: list[tuple[int, str]] | None = None) -> None:
        self.problems: tuple[tuple[int, str], ...] = tuple(problems or [(0, reason)])
        super().__init__(reason)


class CapacityExceeded(InferTraceError, RuntimeError):
    """A write would take a record type past its configured limit; nothing was written."""


class SnapshotInvalid(InferTraceError, ValueError):
    """A snapshot file cannot be restored (bad magic, version, length or checksum);
    the live store was left untouched."""


class NotOwnerThread(InferTraceError, RuntimeError):
    """A single-owner object (``registry.LocalRegistry``) was called from a thread
    other than the one that first used it; nothing was changed."""


class StoreOverloaded(InferTraceError, RuntimeError):
    """The store cannot accept this write now (queue full, database down).

    Nothing of the write was accepted; the receivers answer 503 / UNAVAILABLE
    with ``Retry-After: retry_after`` seconds.
    """

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


class StoreClosed(InferTraceError, RuntimeError):
    """The store was used after close()."""


class LogUnavailable(InferTraceError, RuntimeError):
    """The write-ahead log could not log a write (disk full, read-only, I/O error), so it
    was not acknowledged; it takes writes again once the disk does. The store raises it
    from the engine's OSError (``raise LogUnavailable(...) from exc``)."""


class WriteRefused(InferTraceError, RuntimeError):
    """The database refused a write for good (not a transient outage); nothing was stored.

    Unlike StoreOverloaded a retry cannot help: the receivers answer 500 and log it.
    """


class BodyError(InferTraceError):
    """A request body the collector refuses; ``status`` is the HTTP status to answer."""

    status = 400
