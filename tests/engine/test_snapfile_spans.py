"""The snapshot shape fits the real span table: its RingTable state round-trips exactly.

A MemoryStore span table after eviction (so codes are reused and the ring has
wrapped), with events, links and read-only attribute maps in its object column,
goes through ``to_table_state`` -> ``snapfile.save`` -> ``load_latest`` ->
``from_table_state`` -> ``RingTable.from_state``; the rebuilt table's state is
the original's, value for value, and it then evicts like the original. The
``extras`` adapter here is the one the span table will ship.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from infertrace import MemoryStore
from infertrace.engine import snapfile
from infertrace.engine.ringsnap import ObjectCodec, from_table_state, to_table_state
from infertrace.engine.table import RingTable
from infertrace.model import EMPTY_ATTRIBUTES, SpanEvent, SpanLink
from infertrace.workload import Workload


def _attrs(a: Any) -> dict[str, Any]:
    return dict(a) if a else {}


def _back(a: dict[str, Any]) -> Any:
    return MappingProxyType(a) if a else EMPTY_ATTRIBUTES


def _encode(x: tuple[Any, ...]) -> tuple[Any, ...]:
    msg, events, links, *rest = x
    ev = tuple((e.name, e.time_unix_nano, _attrs(e.attributes)) for e in events)
    lk = tuple((k.trace_id, k.span_id, _attrs(k.attributes), k.trace_state, k.flags) for k in links)
    return (msg, ev, lk, *rest)


def _decode(x: tuple[Any, ...]) -> tuple[Any, ...]:
    msg, events, links, *rest = x
    ev = tuple(SpanEvent(n, t, _back(a)) for n, t, a in events)
    lk = tuple(SpanLink(t, s, _back(a), st, f) for t, s, a, st, f in links)
    return (msg, ev, lk, *rest)


EXTRAS = {"extras": ObjectCodec(_encode, _decode)}


def _same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert {k: a[k] for k in ("capacity", "tail", "head", "evicted")} == {
        k: b[k] for k in ("capacity", "tail", "head", "evicted")
    }
    assert [tuple(r) for r in a["received"]] == [tuple(r) for r in b["received"]]
    assert a["dictionaries"] == b["dictionaries"]
    assert a["columns"].keys() == b["columns"].keys()
    for name, col in a["columns"].items():
        other = b["columns"][name]
        if isinstance(col, np.ndarray):
            assert col.dtype == other.dtype and col.shape == other.shape, name
            assert np.array_equal(col, other, equal_nan=col.dtype.kind == "f"), name
        else:
            assert list(col) == list(other), name


def test_span_table_state_round_trips_through_a_snapshot(tmp_path: Path) -> None:
    store = MemoryStore(span_capacity=500)
    work = Workload(3)
    for i, batch in enumerate(work.span_batches(1_300, 128)):
        if i % 3 == 0:  # some spans with linked spans and event attributes
            batch = [
                replace(
                    sp,
                    events=(SpanEvent("retry", j, MappingProxyType({"attempt": j, "ok": False})),),
                    links=(SpanLink(sp.trace_id, sp.span_id, {"why": "batch"}, "k=v", 1),),
                )
                if j % 5 == 0
                else sp
                for j, sp in enumerate(batch)
            ]
        store.write_batch(batch)
    table = store._spans.table
    extras = [x for x in table.cols["extras"] if x is not None]
    assert table.ring.evicted > 0 and any(x[2] for x in extras)  # links survived eviction
    original = table.state()

    snapfile.save(tmp_path, {"spans": to_table_state(original, EXTRAS)}, lsn=99)
    loaded = snapfile.load_latest(tmp_path)
    assert loaded is not None and loaded.info.lsn == 99
    state = from_table_state(loaded.tables["spans"], EXTRAS)
    restored = RingTable.from_state(table.spec, state)
    _same_state(restored.state(), original)

    for t in (table, restored):  # and it evicts as the original does
        t.evict_to(t.ring.tail + 123)
        t._check()
    _same_state(restored.state(), table.state())
