"""Semantic conventions: which span attributes feed which inference column, and back.

The table is the contract users read in the README: the OpenTelemetry GenAI
conventions first, then the names vLLM emits today, then OpenInference, then
plain names. When several candidates for one column are present, the first in
this order with a usable value wins (a model name that is not text, a negative
token count leave the column to the next candidate, or empty).

Lifting *copies*: every attribute stays in ``attributes`` under the key and
with the value the client sent, so every API shows spans as they were sent
(a vLLM span's ``gen_ai.usage.prompt_tokens`` stays that, an OpenInference
``llm.model_name`` stays that); the columns are what analytics, filters and
indexes use. :func:`shown_attributes` is the inverse for every reader (REST,
export, Jaeger, the OTLP encoder): a span's attributes, plus each column
value no attribute already carries, under the column's first name.

Both the collector (lifting on ingest) and the API (tags and tag search) use
this module; it imports nothing above the record model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import NamedTuple

from infertrace.model import AttributeValue, Span
from infertrace.telemetry.schema import SPAN

INT32_LIMIT = 2**31
INT64_LIMIT = 2**63

(MODEL_NAME, MODEL_VERSION, BATCH_SIZE, INPUT_TOKENS, OUTPUT_TOKENS, GPU_UTILIZATION, TTFT,
 QUEUE, PREFILL, DECODE, E2E, REQUEST_ID, FINISH_REASON) = range(13)  # fmt: skip
COLUMNS = SPAN.inference
"""The inference columns (Span field names), indexed by the column constants above."""
if len(COLUMNS) != 13:
    raise TypeError(f"semconv knows 13 inference columns, the schema has {COLUMNS}")

Lifted = int | float | str


def _text(value: AttributeValue) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: AttributeValue) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float | str):
        integral = value.is_integer() if isinstance(value, float) else value.isdecimal()
        integral = integral and (isinstance(value, float) or value.isascii())
        if not integral or len(str(value)) > 12:
            return None
        value = int(value)
    if isinstance(value, int) and 0 <= value < INT32_LIMIT:
        return value
    return None


def _ratio(value: AttributeValue) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _seconds_to_nanos(value: AttributeValue) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or not 0 <= value < INT64_LIMIT / 1e9:
        return None  # and 1e300 s would make ``value * 1e9`` infinite: OverflowError
    nanos = round(value * 1_000_000_000)
    return nanos if nanos < INT64_LIMIT else None


def _version(value: AttributeValue) -> str | None:
    """A model version: text, or a non-negative integer (Triton sends versions as numbers)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < INT64_LIMIT:
        return str(value)
    return _text(value)


def _first_text(value: AttributeValue) -> str | None:
    """The first entry of a string array (``finish_reasons``), or a plain string."""
    first = (value[0] if value else None) if isinstance(value, tuple) else value
    return None if first is None else _text(first)


_UNIT_NANOS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # MICRO SIGN, what Rust prints
    "\u03bcs": 1_000,  # GREEK SMALL LETTER MU, what people type
    "ms": 1_000_000,
    "s": 10**9,
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|\u00b5s|\u03bcs|ms|s)")


def _duration_text_to_nanos(value: AttributeValue) -> int | None:
    """A duration written with its unit, as TGI records them (Rust's ``{:?}`` of a
    Duration: ``"45.1ms"``, ``"1.250003s"``, ``"350\u00b5s"``, ``"120ns"``); None for
    anything else (a bare number has no unit to trust)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    match = _DURATION.fullmatch(value.strip())
    if match is None:
        return None
    number, unit = match.groups()
    nanos = round(float(number) * _UNIT_NANOS[unit])
    return nanos if 0 <= nanos < INT64_LIMIT else None


class Source(NamedTuple):
    """One attribute name that can feed a column."""

    column: int
    priority: int
    convert: Callable[[AttributeValue], Lifted | None]


_SOURCES: tuple[tuple[int, Callable[[AttributeValue], Lifted | None], tuple[str, ...]], ...] = (
    # Names, by producer: OpenTelemetry GenAI semantic conventions
    # (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/); vLLM's request
    # span (vllm/tracing.py SpanAttributes: gen_ai.usage.prompt_tokens,
    # gen_ai.latency.time_in_queue / time_to_first_token / e2e / time_in_model_prefill /
    # time_in_model_decode, gen_ai.request.id, all latencies in seconds); OpenInference
    # (llm.model_name, llm.token_count.*); Triton's trace attributes (triton.model_name,
    # triton.model_version); TGI's router span (server.rs: queue_time, total_time,
    # prompt_tokens, generated_tokens, recorded as text: "45.1ms", "12"); plain names.
    (
        MODEL_NAME,
        _text,
        (
            "gen_ai.response.model",
            "gen_ai.request.model",
            "llm.model_name",
            "triton.model_name",
            "model_name",
        ),
    ),
    (MODEL_VERSION, _version, ("model_version", "triton.model_version")),
    (BATCH_SIZE, _count, ("batch_size",)),
    (
        INPUT_TOKENS,
        _count,
        (
            "gen_ai.usage.input_tokens",
            "gen_ai.usage.prompt_tokens",
            "llm.token_count.prompt",
            "prompt_tokens",
        ),
    ),
    (
        OUTPUT_TOKENS,
        _count,
        (
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
            "generated_tokens",
        ),
    ),
    (GPU_UTILIZATION, _ratio, ("gpu_utilization",)),
    (TTFT, _seconds_to_nanos, ("gen_ai.latency.time_to_first_token",)),
    (QUEUE, _seconds_to_nanos, ("gen_ai.latency.time_in_queue",)),
    (PREFILL, _seconds_to_nanos, ("gen_ai.latency.time_in_model_prefill",)),
    (DECODE, _seconds_to_nanos, ("gen_ai.latency.time_in_model_decode",)),
    (E2E, _seconds_to_nanos, ("gen_ai.latency.e2e",)),
    (REQUEST_ID, _text, ("gen_ai.response.id", "gen_ai.request.id")),
    (FINISH_REASON, _first_text, ("gen_ai.response.finish_reasons",)),
)

_TEXT_DURATIONS: tuple[tuple[int, str], ...] = ((QUEUE, "queue_time"), (E2E, "total_time"))
"""TGI's durations, as text with a unit; lowest priority for their column."""

LIFT: dict[str, Source] = {
    name: Source(column, priority, convert)
    for column, convert, names in _SOURCES
    for priority, name in enumerate(names)
} | {name: Source(column, 99, _duration_text_to_nanos) for column, name in _TEXT_DURATIONS}
"""Attribute name -> the column it feeds; ``LIFT.get(key)`` is the hot-path test."""

SOURCE_NAMES: dict[str, tuple[str, ...]] = {
    COLUMNS[column]: names + tuple(n for c, n in _TEXT_DURATIONS if c == column)
    for column, _, names in _SOURCES
}
"""Column -> its attribute names in priority order (for documentation and tests)."""


def names_of(column: str) -> tuple[str, ...]:
    """The attribute names that feed ``column``, in priority order."""
    return SOURCE_NAMES[column]


COLUMN_OF: dict[str, str] = {name: COLUMNS[s.column] for name, s in LIFT.items()}
"""Attribute name -> the Span field it feeds (for tag search by any lifted name)."""


_SECONDS = frozenset(COLUMNS[c] for c in (TTFT, QUEUE, PREFILL, DECODE, E2E))


def shown_value(column: str, value: Lifted) -> AttributeValue:
    """A column value as its first attribute name carries it (latencies in seconds)."""
    if column in _SECONDS and isinstance(value, int):
        return value / 1e9
    return value


def shown_attributes(span: Span) -> list[tuple[str, AttributeValue]]:
    """The span's attributes as sent, plus each set column no attribute carries. O(attributes).

    A column counts as carried when one of its attribute names is present with a
    value that lifts to the column's value; otherwise it is shown under its first
    name (``gen_ai.response.model``, ``gen_ai.usage.input_tokens``...) unless that
    key is taken. Spans written through the store API with columns and no
    attributes get their columns back as the canonical attributes. A model that
    no span attribute named (``model_source`` resource, pod or config) is not
    shown as one: the span did not send it.
    """
    attrs = span.attributes
    items = list(attrs.items())
    inferred = span.model_source not in (None, FROM_SPAN)
    for column, names in SOURCE_NAMES.items():
        value = getattr(span, column)
        if value is None or (inferred and column == "model_name"):
            continue
        carried = any(name in attrs and LIFT[name].convert(attrs[name]) == value for name in names)
        if not carried and names[0] not in attrs:
            items.append((names[0], shown_value(column, value)))
    return items


METRIC_MODEL_LABELS = ("model_name", "model", "gen_ai.request.model", "gen_ai.response.model")
"""Metric point attributes (labels) that name a model: vLLM's and SGLang's ``model_name``,
a plain ``model``, and the OpenTelemetry GenAI metrics' ``gen_ai.request.model`` /
``gen_ai.response.model`` (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/).
A model named only by metrics is still listed as a model."""

INSTANCE_KEYS = ("service.instance.id", "k8s.pod.name", "host.name")
"""Resource attributes naming a service instance (a pod), in order of preference: the
model resolver, the seen-processor and the pod registry name instances by this one rule."""


def instance_name(resource: Mapping[str, AttributeValue]) -> str:
    """The instance ``resource`` names by :data:`INSTANCE_KEYS`; '' when it names none. O(1)."""
    for key in INSTANCE_KEYS:
        value = resource.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


FROM_SPAN, FROM_RESOURCE, FROM_POD, FROM_CONFIG = "span", "resource", "pod", "config"
"""The ``model_source`` of a span: which rule named its model, tried in this order.

``span``: the span's own attributes (the table above). ``resource``: the same
attribute names on the resource. ``pod``: the one model the same service instance
is known to serve (its earlier spans, its metrics' model labels). ``config``: the
collector's ``--model-for SERVICE=MODEL`` mapping. The last three apply only to a
span that carries inference data (another inference column) but no model, so a
health check or an engine's child span is never counted under a model."""


def model_of(attributes: Mapping[str, AttributeValue]) -> str | None:
    """The model ``attributes`` name by the span rule's names and priorities, or None.

    O(names): for a resource's attributes, once per resource of a request.
    """
    for name in SOURCE_NAMES[COLUMNS[MODEL_NAME]]:
        value = attributes.get(name)
        if value is not None:
            model = _text(value)
            if model is not None:
                return model
    return None


def convert(source: Source | None, raw: AttributeValue) -> Lifted | None:
    """The column value ``raw`` gives through ``source``, or None if unusable."""
    return None if source is None else source.convert(raw)


Candidate = tuple[str, AttributeValue, "Source | None", "Lifted | None"]
"""(key, raw value, source, converted value): a KeyValue cache entry of a liftable key."""


def columns(candidates: list[Candidate]) -> tuple[Lifted | None, ...]:
    """The inference column values from ``candidates`` (attributes whose key is liftable).

    Per column the usable candidate of the highest priority wins. Pure: the
    candidates stay in the span's attributes. O(len(candidates)); called only for
    spans that carry a liftable key.
    """
    best: list[Candidate | None] = [None] * len(COLUMNS)
    for entry in candidates:
        source, value = entry[2], entry[3]
        if value is None or source is None:
            continue
        current = best[source.column]
        if current is None or source.priority < current[2].priority:  # type: ignore[union-attr]
            best[source.column] = entry
    return tuple(None if b is None else b[3] for b in best)
