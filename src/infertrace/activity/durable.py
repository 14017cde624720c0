"""How the activity store's changes and state travel to a data directory.

The store takes part in a data directory (:mod:`infertrace.engine.journal`) as
one table, :data:`TABLE`: every change is one log record, a tag byte and the
record type's index in :data:`~infertrace.activity.tables.LAYOUTS`, then:

====  ===========================  ==============================================
tag   change                       body
====  ===========================  ==============================================
I     insert a batch               Arrow IPC stream: the records' fields by column
U     update one record            the same, one row
P     upsert a batch               the written records by column, in the order
                                   appended: each replaces the record under its
                                   key if one is stored, else is inserted
D     delete by keys               Arrow IPC stream: one ``key`` text column
C     clear every type             (none)
R     replace every type           the four tables' states (as in a snapshot file)
====  ===========================  ==============================================

A captured state is one :class:`~infertrace.engine.snapfile.TableState`: per
record type a ``<name>.rows`` part (its columns as stored: ints, floats, bools,
text as int32 codes) and a ``<name>.dict.<column>`` part per text column (the
dictionary), a ``<name>.order.<index>`` part per sorted index (its entries'
row positions, so a restore checks an order instead of sorting), plus
``applied_lsn`` in the meta. Capture and restore move arrays; no record object
is built.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from infertrace.activity.tables import LAYOUTS, Layout
from infertrace.engine.colarrow import from_batch, to_batch
from infertrace.engine.columnar import Array, ColumnTable
from infertrace.engine.journal import APPLIED_LSN
from infertrace.engine.snapfile import TableState

TABLE = "activity"
"""The store's one table name in a data directory's log and snapshots."""
KINDS: tuple[type, ...] = tuple(LAYOUTS)
_HEAD = struct.Struct(">cB")
_LENGTH = struct.Struct(">Q")
_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def _ipc(batch: pa.RecordBatch) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _read(body: bytes | memoryview) -> pa.Table:
    return pa.ipc.open_stream(body).read_all()


def values_payload(tag: bytes, layout: Layout, values: Mapping[str, Sequence[Any]]) -> bytes:
    """An ``I``, ``U`` or ``P`` record: the records' fields by column. O(m) in Arrow."""
    arrays = [pa.array(values[s.name], type=_ARROW[s.kind]) for s in layout.specs]
    batch = pa.record_batch(arrays, names=[s.name for s in layout.specs])
    return _HEAD.pack(tag, KINDS.index(layout.kind)) + _ipc(batch)


def keys_payload(layout: Layout, keys: Sequence[str]) -> bytes:
    """A ``D`` record deleting ``keys``."""
    batch = pa.record_batch([pa.array(list(keys), type=pa.string())], names=["key"])
    return _HEAD.pack(b"D", KINDS.index(layout.kind)) + _ipc(batch)


def clear_payload() -> bytes:
    return _HEAD.pack(b"C", 0)


def replace_payload(tables: Mapping[type, ColumnTable[Any]]) -> bytes:
    """An ``R`` record holding every table's exported state. O(n)."""
    out = bytearray(_HEAD.pack(b"R", 0))
    for kind, layout in LAYOUTS.items():
        section = _ipc(to_batch(layout.specs, *tables[kind].export()))
        out += _LENGTH.pack(len(section)) + section
    return bytes(out)


def decode(payload: bytes | memoryview) -> tuple[bytes, Layout, Any]:
    """``(tag, layout, body)`` of a record: the column values (I, U, P), the keys (D),
    None (C) or the new tables (R). ValueError naming what is wrong."""
    if len(payload) < _HEAD.size:
        raise ValueError(f"activity log record of {len(payload)} bytes is too short")
    tag, index = _HEAD.unpack_from(payload)
    if index >= len(KINDS):
        raise ValueError(f"activity log record names record type {index} of {len(KINDS)}")
    layout = LAYOUTS[KINDS[index]]
    body = memoryview(payload)[_HEAD.size :]
    try:
        if tag in (b"I", b"U", b"P"):
            table = _read(body)
            names = [s.name for s in layout.specs]
            if table.column_names != names:
                raise ValueError(f"columns {table.column_names} are not {names}")
            return tag, layout, {n: table.column(n).to_pylist() for n in names}
        if tag == b"D":
            return tag, layout, _read(body).column("key").to_pylist()
        if tag == b"C":
            return tag, layout, None
        if tag == b"R":
            tables: dict[type, ColumnTable[Any]] = {}
            at = 0
            for kind, each in LAYOUTS.items():
                (length,) = _LENGTH.unpack_from(body, at)
                section = _read(body[at + 8 : at + 8 + length])
                tables[kind] = table_from(each, *from_batch(each.specs, section))
                at += 8 + length
            return tag, layout, tables
    except (pa.ArrowException, struct.error, KeyError) as exc:
        raise ValueError(f"activity log record {tag!r} cannot be decoded: {exc}") from exc
    raise ValueError(f"activity log record has an unknown tag {tag!r}")


def table_from(
    layout: Layout,
    arrays: dict[str, Array],
    dictionaries: dict[str, list[Any]],
    orders: dict[str, Array] | None = None,
) -> ColumnTable[Any]:
    """A new table holding exported columns (and index orders, see
    :meth:`ColumnTable.index_orders`); ValueError naming what is wrong (a negative
    count or time, a key held twice, a code outside its dictionary, an order that
    does not sort its index)."""
    for spec in layout.specs:
        data = arrays.get(spec.name)
        if spec.kind in ("int", "float") and data is not None and len(data) and data.min() < 0:
            raise ValueError(f"{layout.name} column {spec.name!r} holds a negative value")
    table = layout.table()
    table.load(arrays, dictionaries, orders)
    return table


def part_name(index: str) -> str:
    """An index name as a snapshot part name allows it (``+`` is not allowed)."""
    return index.replace("+", "_and_")


def capture(tables: Mapping[type, ColumnTable[Any]], applied_lsn: int) -> TableState:
    """The tables' state (call under the read lock: arrays are copied). O(n)."""
    parts: dict[str, Mapping[str, Any]] = {}
    for kind, layout in LAYOUTS.items():
        arrays, dictionaries = tables[kind].export()
        parts[f"{layout.name}.rows"] = arrays
        for index, order in tables[kind].index_orders().items():
            parts[f"{layout.name}.order.{part_name(index)}"] = {"rows": order}
        for spec in layout.specs:
            if spec.kind == "str":
                values = dictionaries[spec.name]
                text = list(map(str, values)) if spec.convert is not None else values
                parts[f"{layout.name}.dict.{spec.name}"] = {"values": text}
    return TableState({APPLIED_LSN: applied_lsn}, parts)


def restore(state: TableState) -> tuple[dict[type, ColumnTable[Any]], int]:
    """New tables from a captured state, and its applied LSN; ValueError naming what
    is unusable. O(n log n) for the sorted indexes."""
    lsn = state.meta.get(APPLIED_LSN, 0)
    if type(lsn) is not int or lsn < 0:
        raise ValueError(f"activity state: applied_lsn {lsn!r} must be an int >= 0")
    tables: dict[type, ColumnTable[Any]] = {}
    for kind, layout in LAYOUTS.items():
        rows = state.parts.get(f"{layout.name}.rows")
        if rows is None:
            raise ValueError(f"activity state has no {layout.name}.rows part")
        arrays = {name: _array(layout, name, col) for name, col in rows.items()}
        dictionaries: dict[str, list[Any]] = {}
        for spec in layout.specs:
            if spec.kind == "str":
                part = state.parts.get(f"{layout.name}.dict.{spec.name}")
                if part is None or "values" not in part:
                    raise ValueError(f"activity state has no {layout.name}.dict.{spec.name} part")
                dictionaries[spec.name] = list(part["values"])
        orders: dict[str, Array] = {}
        for index in layout.table().indexes:
            part = state.parts.get(f"{layout.name}.order.{part_name(index)}")
            if part is not None and "rows" in part:
                orders[index] = _array(layout, index, part["rows"])
        tables[kind] = table_from(layout, arrays, dictionaries, orders)
    return tables, lsn


def _array(layout: Layout, name: str, column: Any) -> Array:
    if not hasattr(column, "dtype"):
        raise ValueError(f"activity state: {layout.name} column {name!r} is not an array")
    array: Array = column
    return array
