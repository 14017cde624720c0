"""What the three signal decoders share: resources, scopes, id checks, rejections.

Work that is the same for every record of a resource (service name, the
resource attribute map) is done once per resource, and the one read-only
mapping is shared by every record of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from infertrace.collector.otlp.anyvalue import attribute_map
from infertrace.model import (
    EMPTY_ATTRIBUTES,
    Attributes,
    AttributeValue,
    LogRecord,
    MetricPoint,
    Span,
)
from infertrace.telemetry.batches import ColumnBatch
from infertrace.telemetry.validate import INT64_LIMIT

R = TypeVar("R", Span, LogRecord, MetricPoint)

UNKNOWN_SERVICE = "unknown_service"
"""The service name of telemetry whose resource has no ``service.name`` (OTel's default)."""

SCOPE_NAME = "otel.scope.name"
SCOPE_VERSION = "otel.scope.version"
"""Attribute keys the instrumentation scope is kept under, as Jaeger's OTLP translator does."""

TIME_LIMIT = INT64_LIMIT
"""Times are fixed64 on the wire but signed 64-bit everywhere after (stores, SQL)."""

MAX_REASONS = 5
"""How many distinct rejection reasons a partial-success message quotes."""

ZERO_TRACE_ID = bytes(16)
ZERO_SPAN_ID = bytes(8)


def frozen(attributes: dict[str, AttributeValue]) -> Attributes:
    """A read-only view of ``attributes``, or the shared empty map."""
    return MappingProxyType(attributes) if attributes else EMPTY_ATTRIBUTES


EMPTY_KEY = "has an attribute with an empty key"


def small_map(kvs: Iterable[KeyValue]) -> tuple[Attributes, str | None]:
    """A frozen attribute map of an event or link, and ``EMPTY_KEY`` if it has one.

    OTLP forbids empty attribute keys and every store rejects them.
    """
    attrs = attribute_map(kvs)
    return frozen(attrs), (EMPTY_KEY if "" in attrs else None)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """The per-resource facts every record of the resource shares."""

    service_name: str
    attributes: Attributes
    problem: str | None


def resource_info(resource: Resource) -> ResourceInfo:
    """Service name (``unknown_service`` when absent or not text) and frozen attributes."""
    attrs = attribute_map(resource.attributes)
    service = attrs.get("service.name")
    if not isinstance(service, str) or not service:
        service = UNKNOWN_SERVICE
    return ResourceInfo(service, frozen(attrs), "resource " + EMPTY_KEY if "" in attrs else None)


def scope_items(scope: InstrumentationScope) -> tuple[tuple[str, Any], ...]:
    """The scope name and version, then the scope's own attributes, as attribute items
    (empty name and version left out). A record's attributes of the same key win."""
    items: list[tuple[str, Any]] = []
    if scope.name:
        items.append((SCOPE_NAME, scope.name))
    if scope.version:
        items.append((SCOPE_VERSION, scope.version))
    if scope.attributes:
        items.extend(attribute_map(scope.attributes).items())
    return tuple(items)


@dataclass(slots=True)
class Decoded(Generic[R]):
    """The records decoded from one request (a column batch) and what was rejected, with why.

    ``reasons`` keeps the first few distinct reasons, each with the position of
    its first occurrence, for the partial-success message. ``resources`` holds
    the attribute map of each resource entry that gave at least one record (the
    very object its records share), for the pipeline's processors and model resolver.
    """

    records: ColumnBatch[R]
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    resources: list[Attributes] = field(default_factory=list)
    unresolved: list[int] = field(default_factory=list)
    """Spans only: positions in ``records`` of the spans that carry inference data but
    whose model neither their attributes nor their resource named; the pipeline's model
    resolver tries the other rules on them (:data:`~infertrace.telemetry.semconv.FROM_POD`)."""

    def reject(self, where: str, reason: str, count: int = 1) -> None:
        """Count ``count`` rejected records and remember why (first few reasons only)."""
        self.rejected += count
        if len(self.reasons) < MAX_REASONS and not any(
            r.endswith(": " + reason) for r in self.reasons
        ):
            self.reasons.append(f"{where}: {reason}")

    def message(self, noun: str) -> str:
        """The partial-success error message, '' when nothing was rejected."""
        if not self.rejected:
            return ""
        total = self.rejected + len(self.records)
        return f"rejected {self.rejected} of {total} {noun}: " + "; ".join(self.reasons)
