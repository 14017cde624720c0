"""Which span attributes feed which inference column, and how they are lifted.

The table is the contract users read in the README: the OpenTelemetry GenAI
conventions first, then the names vLLM emits today, then OpenInference, then
plain names. When several candidates for one column are present, the first in
this order wins; a losing candidate whose value differs from the winner stays
in ``attributes`` so nothing the client sent is lost. A candidate whose value
cannot be used (a model name that is not text, a negative token count) also
stays in ``attributes`` and leaves the column empty.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from infertrace.model import AttributeValue

INT32_LIMIT = 2**31
INT64_LIMIT = 2**63

MODEL_NAME, MODEL_VERSION, BATCH_SIZE, INPUT_TOKENS, OUTPUT_TOKENS, GPU_UTILIZATION, TTFT = range(7)
COLUMNS = (
    "model_name",
    "model_version",
    "batch_size",
    "input_tokens",
    "output_tokens",
    "gpu_utilization",
    "time_to_first_token_nanos",
)
"""Span field names, indexed by the column constants above."""

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


class Source(NamedTuple):
    """One attribute name that can feed a column."""

    column: int
    priority: int
    convert: Callable[[AttributeValue], Lifted | None]


_SOURCES: tuple[tuple[int, Callable[[AttributeValue], Lifted | None], tuple[str, ...]], ...] = (
    (
        MODEL_NAME,
        _text,
        ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "model_name"),
    ),
    (MODEL_VERSION, _text, ("model_version",)),
    (BATCH_SIZE, _count, ("batch_size",)),
    (
        INPUT_TOKENS,
        _count,
        ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    ),
    (
        OUTPUT_TOKENS,
        _count,
        (
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ),
    ),
    (GPU_UTILIZATION, _ratio, ("gpu_utilization",)),
    (TTFT, _seconds_to_nanos, ("gen_ai.latency.time_to_first_token",)),
)

LIFT: dict[str, Source] = {
    name: Source(column, priority, convert)
    for column, convert, names in _SOURCES
    for priority, name in enumerate(names)
}
"""Attribute name -> the column it feeds; ``LIFT.get(key)`` is the hot-path test."""

SOURCE_NAMES: dict[str, tuple[str, ...]] = {COLUMNS[column]: names for column, _, names in _SOURCES}
"""Column -> its attribute names in priority order (for documentation and tests)."""


def convert(source: Source | None, raw: AttributeValue) -> Lifted | None:
    """The column value ``raw`` gives through ``source``, or None if unusable."""
    return None if source is None else source.convert(raw)


Candidate = tuple[str, AttributeValue, "Source | None", "Lifted | None"]
"""(key, raw value, source, converted value): a KeyValue cache entry of a liftable key."""


def apply(
    candidates: list[Candidate], attributes: dict[str, AttributeValue]
) -> list[Lifted | None]:
    """The seven column values from ``candidates``; unused candidates go back to ``attributes``.

    O(len(candidates)); called only for spans that carry a liftable key.
    """
    best: list[Candidate | None] = [None] * 7
    losers: list[Candidate] = []
    for entry in candidates:
        key, raw, source, value = entry
        if value is None or source is None:
            attributes[key] = raw
            continue
        column = source.column
        current = best[column]
        if current is None:
            best[column] = entry
        elif source.priority < current[2].priority:  # type: ignore[union-attr]
            losers.append(current)
            best[column] = entry
        else:
            losers.append(entry)
    for key, raw, source, value in losers:
        winner = best[source.column]  # type: ignore[union-attr]
        if winner is not None and winner[0] != key and winner[3] != value:
            attributes[key] = raw
    return [None if b is None else b[3] for b in best]
