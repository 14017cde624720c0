"""The span table's ``extras`` column (status message, events, links, trace state,
dropped counts) <-> three snapshot parts of plain columns.

One span in six of a typical LLM workload carries an event (``first_token``), so at
1M spans the column holds ~170K tuples of frozen records. Encoding each as one
plain-encoded cell cost ~1 s each way; flattened into columns (one row per
span with extras, per event, per link) Arrow stores names, times and ids
natively, C-level ``map`` builds the records back, and only non-empty attribute
maps go through the plain encoding. O(spans with extras + events + links).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, compress, islice, repeat
from operator import attrgetter, is_not, itemgetter
from types import MappingProxyType
from typing import Any

import numpy as np

from infertrace.model import EMPTY_ATTRIBUTES, SpanEvent, SpanLink, fast_constructor

_EVENT_FIELDS = ("name", "time_unix_nano", "attributes")
_LINK_FIELDS = ("trace_id", "span_id", "attributes", "trace_state", "flags")
_EVENT = attrgetter(*_EVENT_FIELDS)
_LINK = attrgetter(*_LINK_FIELDS)
_new_event = fast_constructor(SpanEvent, _EVENT_FIELDS)
_new_link = fast_constructor(SpanLink, _LINK_FIELDS)


def _plain(a: Mapping[str, Any]) -> dict[str, Any] | None:
    return dict(a) if a else None


def _frozen(a: dict[str, Any] | None) -> Any:
    return MappingProxyType(a) if a else EMPTY_ATTRIBUTES


def _cells(maps: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | None]:
    if not any(maps):  # the usual case: no attributes at all
        return [None] * len(maps)
    return list(map(_plain, maps))


def to_parts(column: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """The parts ``extras``, ``events`` and ``links`` of an extras column (live rows,
    oldest first; None where a span has none). C-level loops over the column."""
    present = list(map(is_not, column, repeat(None)))
    rows = np.flatnonzero(np.array(present, dtype=np.bool_))
    xs = list(compress(column, present))
    m = len(xs)
    msg, evs, lks = (list(map(itemgetter(i), xs)) for i in range(3))
    state: list[str | None] = [None] * m  # the long form only: a trace state or drops
    drops = np.zeros((3, m), np.int64)
    for j in np.flatnonzero(np.fromiter(map(len, xs), np.int64, m) > 3).tolist():
        state[j] = xs[j][3]
        drops[:, j] = xs[j][4:7]
    events = list(chain.from_iterable(evs))
    links = list(chain.from_iterable(lks))
    e_cols = list(zip(*map(_EVENT, events), strict=True)) or [(), (), ()]
    l_cols = list(zip(*map(_LINK, links), strict=True)) or [(), (), (), (), ()]
    return {
        "extras": {
            "row": rows.astype(np.int64),
            "message": msg,
            "events": np.fromiter(map(len, evs), np.int32, m),
            "links": np.fromiter(map(len, lks), np.int32, m),
            "trace_state": state,
            "dropped_attributes": drops[0],
            "dropped_events": drops[1],
            "dropped_links": drops[2],
        },
        "events": {
            "name": list(e_cols[0]),
            "time": np.array(e_cols[1], np.int64),
            "attributes": _cells(e_cols[2]),
        },
        "links": {
            "trace_id": list(l_cols[0]),
            "span_id": list(l_cols[1]),
            "attributes": _cells(l_cols[2]),
            "trace_state": list(l_cols[3]),
            "flags": np.array(l_cols[4], np.int64),
        },
    }


def _maps(cells: Sequence[dict[str, Any] | None]) -> Any:
    """Read-only maps of the cells; one shared empty map when every cell is empty."""
    if not any(cells):
        return repeat(EMPTY_ATTRIBUTES, len(cells))
    return map(_frozen, cells)


def _grouped(items: list[Any], counts: list[int]) -> list[tuple[Any, ...]]:
    """``items`` cut into tuples of ``counts`` items. Most spans with extras carry one
    event or none, which a single-item path builds ~3x faster."""
    it = iter(items)
    if max(counts, default=0) <= 1:
        one = it.__next__
        return [(one(),) if k else () for k in counts]
    return [tuple(islice(it, k)) if k else () for k in counts]


def from_parts(parts: Mapping[str, Mapping[str, Any]], n: int) -> list[Any]:
    """The extras column of ``n`` rows that :func:`to_parts` described; ValueError for
    counts that do not add up."""
    x, e, k = parts["extras"], parts["events"], parts["links"]
    ev_counts = np.asarray(x["events"]).tolist()
    lk_counts = np.asarray(x["links"]).tolist()
    if sum(ev_counts) != len(e["name"]) or sum(lk_counts) != len(k["trace_id"]):
        raise ValueError("span extras name more events or links than the snapshot holds")
    events = list(
        map(_new_event, e["name"], np.asarray(e["time"]).tolist(), _maps(e["attributes"]))
    )
    links = list(
        map(
            _new_link,
            k["trace_id"],
            k["span_id"],
            _maps(k["attributes"]),
            k["trace_state"],
            np.asarray(k["flags"]).tolist(),
        )
    )
    evs, lks = _grouped(events, ev_counts), _grouped(links, lk_counts)
    out: list[Any] = [None] * n
    dropped = zip(
        *(
            np.asarray(x[c]).tolist()
            for c in ("dropped_attributes", "dropped_events", "dropped_links")
        ),
        strict=True,
    )
    for row, msg, ev, lk, state, drops in zip(
        np.asarray(x["row"]).tolist(), x["message"], evs, lks, x["trace_state"], dropped,
        strict=True,
    ):  # fmt: skip
        out[row] = (msg, ev, lk) if state is None else (msg, ev, lk, state, *drops)
    return out


__all__ = ["from_parts", "to_parts"]
