"""A :class:`~infertrace.engine.table.RingTable` state <-> a snapshot :class:`TableState`.

``RingTable.state()`` maps onto three kinds of part:

- ``rows``: every column, live rows oldest first (arrays as they are; object
  columns as sequences, see below);
- ``received``: the receive marks as two int64 columns ``end`` and ``time``;
- ``dict.<name>``: each dictionary's entries by code in one column ``value``
  (None for a free code), so codes in the rows stay valid unchanged;

and ``meta`` holds ``capacity``, ``tail``, ``head`` and ``evicted``. With those,
``RingTable.from_state`` rebuilds the table exactly, so a restored table evicts
and purges as the original would have.

Object columns and dictionary values are stored by :mod:`infertrace.engine.arrowcols`
(Arrow strings, binary, or the plain encoding of tuples, dicts and read-only
mappings). A table whose objects are not plain data (frozen records such as
span events) passes an :class:`ObjectCodec` per such column, turning each value
into plain data and back; that adapter is the one thing each table provides.
Anything a table keeps outside its RingTable (an attribute arena, index
structures it does not rebuild from the rows) is its own extra part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from infertrace.engine.snapfile import TableState


@dataclass(frozen=True, slots=True)
class ObjectCodec:
    """Turns one object column's values into plain data (``encode``) and back; None
    never reaches either (an empty slot stays None)."""

    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


DICT_PREFIX = "dict."


def to_table_state(
    state: Mapping[str, Any], codecs: Mapping[str, ObjectCodec] | None = None
) -> TableState:
    """The snapshot form of ``RingTable.state()``. O(rows), Python work only for
    object columns with a codec."""
    codecs = codecs or {}
    rows: dict[str, Any] = {}
    for name, col in state["columns"].items():
        codec = codecs.get(name)
        if codec is not None:
            enc = codec.encode
            col = [None if v is None else enc(v) for v in col]
        rows[name] = col
    received = state["received"]
    parts: dict[str, Mapping[str, Any]] = {
        "rows": rows,
        "received": {
            "end": np.array([e for e, _ in received], dtype=np.int64),
            "time": np.array([t for _, t in received], dtype=np.int64),
        },
    }
    ranks = state.get("dictionary_ranks") or {}
    for name, values in state["dictionaries"].items():
        part: dict[str, Any] = {"value": list(values)}
        if name in ranks:
            part["rank"] = np.asarray(ranks[name], dtype=np.int64)
        parts[DICT_PREFIX + name] = part
    meta = {k: int(state[k]) for k in ("capacity", "tail", "head", "evicted")}
    return TableState(meta, parts)


def from_table_state(
    ts: TableState, codecs: Mapping[str, ObjectCodec] | None = None
) -> dict[str, Any]:
    """The ``RingTable.state()`` that :func:`to_table_state` was given, for
    ``RingTable.from_state``. O(rows)."""
    codecs = codecs or {}
    columns: dict[str, Any] = {}
    for name, col in ts.parts["rows"].items():
        codec = codecs.get(name)
        if codec is not None:
            dec = codec.decode
            col = [None if v is None else dec(v) for v in col]
        columns[name] = col
    rec = ts.parts["received"]
    dict_parts = {
        part[len(DICT_PREFIX) :]: cols
        for part, cols in ts.parts.items()
        if part.startswith(DICT_PREFIX)
    }
    dictionaries = {name: list(cols["value"]) for name, cols in dict_parts.items()}
    ranks = {
        name: np.asarray(cols["rank"], dtype=np.int64)
        for name, cols in dict_parts.items()
        if "rank" in cols
    }
    return {
        **{k: int(ts.meta[k]) for k in ("capacity", "tail", "head", "evicted")},  # type: ignore[arg-type]
        "received": list(
            zip(np.asarray(rec["end"]).tolist(), np.asarray(rec["time"]).tolist(), strict=True)
        ),
        "columns": columns,
        "dictionaries": dictionaries,
        "dictionary_ranks": ranks,
    }


__all__ = ["DICT_PREFIX", "ObjectCodec", "from_table_state", "to_table_state"]
