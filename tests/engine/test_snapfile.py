"""Snapshot files: lossless columns, RingTable round trips, keep-K, and every damage."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from infertrace.engine import plain, snapfile
from infertrace.engine.arrowcols import from_arrow, to_arrow
from infertrace.engine.ringsnap import ObjectCodec, from_table_state, to_table_state
from infertrace.engine.snapfile import TableState
from infertrace.engine.table import OBJECT, Column, RingTable, TableSpec


def same(a: Any, b: Any) -> bool:
    """Equal, with NumPy arrays equal in dtype, shape and values (NaN equal to NaN)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        nan = a.dtype.kind == "f"
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=nan)
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | MappingProxyType):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


rng = np.random.default_rng(7)
COLUMNS = [
    ("int64", rng.integers(-(2**62), 2**62, 50)),
    ("int8", rng.integers(-128, 127, 50).astype(np.int8)),
    ("uint32", rng.integers(0, 2**32, 50).astype(np.uint32)),
    ("float64 with nan", np.where(rng.random(50) < 0.3, np.nan, rng.random(50))),
    ("float32", rng.random(50).astype(np.float32)),
    ("bool", rng.random(50) < 0.5),
    ("ids (16,) uint8", rng.integers(0, 256, (50, 16)).astype(np.uint8)),
    ("int64 (2, 3)", rng.integers(0, 9, (50, 2, 3))),
    ("float32 (4,)", rng.random((50, 4)).astype(np.float32)),
    ("empty int64", np.zeros(0, dtype=np.int64)),
    ("empty ids", np.zeros((0, 8), dtype=np.uint8)),
    ("str and None", ["a", None, "", "é ☃", "x" * 300]),
    ("bytes and None", [b"\x00", None, b"", b"\xff" * 40]),
    ("empty objects", []),
    ("all None", [None, None]),
    (
        "plain objects",
        [
            None,
            (1, "x", 2.5),
            {"k": [b"v", None, True]},
            MappingProxyType({"a": (("k", 1, "v"),)}),
            2**70,
            -(2**64),
            "just a string",
            float("nan"),
            (),
        ],
    ),
]


@pytest.mark.parametrize(("name", "values"), COLUMNS, ids=[c[0] for c in COLUMNS])
def test_column_round_trips_through_arrow_exactly(name: str, values: Any) -> None:
    field, arr = to_arrow("c", values)
    assert len(arr) == len(values)
    back = from_arrow(field, arr)
    assert same(back, values) if isinstance(values, np.ndarray) else same(list(back), list(values))
    if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype == np.uint8:
        assert field.type.byte_width == values.shape[1]  # ids stay fixed-size binary


def test_arrays_of_other_kinds_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"'when'.*datetime64"):
        to_arrow("when", np.zeros(3, dtype="datetime64[ns]"))


PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.dictionaries(st.integers(), inner, max_size=3).map(MappingProxyType)
    ),
    max_leaves=20,
)


@given(PLAIN)
@settings(max_examples=300, deadline=None)
def test_plain_encoding_round_trips_types_and_values(value: Any) -> None:
    assert same(plain.decode(plain.encode(value)), value)


@pytest.mark.parametrize("value", [{1, 2}, frozenset(), object(), np.int64(3), [1, {"a": 1j}]])
def test_plain_encoding_names_what_it_cannot_hold(value: Any) -> None:
    with pytest.raises(TypeError, match="cannot encode a"):
        plain.encode(value)


@pytest.mark.parametrize(
    "raw", [b"", b"Z", b"s\x05\x00\x00\x00ab", b"i\x01", b"NN", b"t\x02\x00\x00\x00N"]
)
def test_plain_decoding_refuses_what_is_not_an_encoding(raw: bytes) -> None:
    with pytest.raises((ValueError, IndexError)):
        plain.decode(raw)


# -- RingTable state through a snapshot ------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        TableSpec(
            (
                Column("tid", "uint8", (16,)),
                Column("start", "int64"),
                Column("svc", "int32", dictionary="strings"),
                Column("op", "int32", dictionary="strings"),
                Column("res", "int32", dictionary="maps"),
                Column("gpu", "float64", fill=np.nan),
                Column("extras", OBJECT, fill=None),
            )
        )
    ],
)
@given(
    batches=st.lists(st.integers(1, 12), min_size=1, max_size=12),
    purge_at=st.integers(0, 15),
    evict=st.integers(0, 40),
)
@settings(max_examples=40, deadline=None)
def test_ring_table_restored_from_a_snapshot_is_the_same_table_and_behaves_alike(
    tmp_path_factory: pytest.TempPathFactory,
    spec: TableSpec,
    batches: list[int],
    purge_at: int,
    evict: int,
) -> None:
    """A table restored from a snapshot has the original's state, and then evicts,
    purges and appends exactly as the original does."""
    directory = tmp_path_factory.mktemp("snap")
    table = RingTable(spec, 20)
    seq = 0

    def batch(n: int) -> dict[str, Any]:
        nonlocal seq
        seq += n
        idx = range(seq - n, seq)
        return {
            "tid": np.array([[i % 256] * 16 for i in idx], dtype=np.uint8),
            "start": np.array([i * 1000 for i in idx], dtype=np.int64),
            "svc": [f"svc{i % 3}" for i in idx],
            "op": [None if i % 4 == 0 else f"op{i % 5}" for i in idx],
            "res": [(("host", 1, f"h{i % 2}"),) for i in idx],
            "gpu": [np.nan if i % 2 else i / 10 for i in idx],
            "extras": [None if i % 3 else ("msg", i, {"k": b"v"}) for i in idx],
        }

    for i, n in enumerate(batches):
        table.append(batch(n), now=i)
    table.evict_to(min(table.ring.head, table.ring.tail + evict % 5))
    table.purge(purge_at // 3)
    table._check()

    snapfile.save(directory, {"t": to_table_state(table.state())}, lsn=len(batches))
    loaded = snapfile.load_latest(directory)
    assert loaded is not None and loaded.info.lsn == len(batches)
    restored = RingTable.from_state(spec, from_table_state(loaded.tables["t"]))
    assert same(_plain_state(restored.state()), _plain_state(table.state()))

    more = batch(7)
    for t in (table, restored):
        t.purge(purge_at // 2)
        t.append(more, now=100)
        t.evict_to(t.ring.tail + 1)
        t._check()
    # New values may take other free dictionary codes (the free list's order is not
    # state), so from here on rows are compared by value.
    assert same(_by_value(spec, restored.state()), _by_value(spec, table.state()))


def _plain_state(state: dict[str, Any]) -> dict[str, Any]:
    return {**state, "received": [tuple(r) for r in state["received"]]}


def _by_value(spec: TableSpec, state: dict[str, Any]) -> dict[str, Any]:
    """The state with every dictionary column decoded and the dictionaries dropped."""
    columns = dict(state["columns"])
    for c in spec.columns:
        if c.dictionary:
            values = state["dictionaries"][c.dictionary]
            columns[c.name] = [None if k < 0 else values[k] for k in columns[c.name].tolist()]
    rest = {k: v for k, v in _plain_state(state).items() if k != "dictionaries"}
    return {**rest, "columns": columns}


class Event:
    """A frozen record that plain data cannot hold: its table's codec must convert it."""

    def __init__(self, name: str, when: int) -> None:
        self.name, self.when = name, when

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and (self.name, self.when) == (other.name, other.when)

    __hash__ = None  # type: ignore[assignment]


def test_object_codec_adapts_records_that_are_not_plain_data(tmp_path: Path) -> None:
    spec = TableSpec((Column("t", "int64"), Column("ev", OBJECT, fill=None)))
    table = RingTable(spec, 4)
    table.append({"t": [1, 2, 3], "ev": [Event("a", 1), None, Event("b", 2)]}, now=5)
    with pytest.raises(TypeError, match="Event"):
        snapfile.save(tmp_path, {"t": to_table_state(table.state())}, lsn=1)
    codec = ObjectCodec(lambda e: (e.name, e.when), lambda p: Event(*p))
    snapfile.save(tmp_path, {"t": to_table_state(table.state(), {"ev": codec})}, lsn=1)
    loaded = snapfile.load_latest(tmp_path)
    assert loaded is not None
    back = RingTable.from_state(spec, from_table_state(loaded.tables["t"], {"ev": codec}))
    assert back.state()["columns"]["ev"] == [Event("a", 1), None, Event("b", 2)]


# -- files, manifest, keep-K ----------------------------------------------------------


def _state(n: int) -> TableState:
    return TableState(
        {"capacity": 100, "note": "x"},
        {"rows": {"a": np.arange(n, dtype=np.int64), "s": [f"v{i}" for i in range(n)]}},
    )


def test_manifest_lists_sizes_checksums_and_the_log_position(tmp_path: Path) -> None:
    info = snapfile.save(tmp_path, {"spans": _state(10), "logs": _state(3)}, lsn=42)
    manifest = json.loads((info.path / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["lsn"] == 42 and manifest["seq"] == 1
    assert set(manifest["files"]) == {"spans.rows.arrow", "logs.rows.arrow"}
    for fname, entry in manifest["files"].items():
        raw = (info.path / fname).read_bytes()
        assert entry["bytes"] == len(raw)
        assert entry["sha256"] == hashlib.sha256(raw).hexdigest()
    assert info.bytes == sum(len((info.path / f).read_bytes()) for f in manifest["files"])
    assert manifest["tables"]["spans"]["meta"] == {"capacity": 100, "note": "x"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


@pytest.mark.parametrize("keep", [1, 2, 3])
def test_keeps_the_newest_k_snapshots(tmp_path: Path, keep: int) -> None:
    for lsn in range(1, 6):
        snapfile.save(tmp_path, {"t": _state(lsn)}, lsn=lsn * 10, keep=keep)
    kept = snapfile.list_snapshots(tmp_path)
    assert [p.name for p in kept] == [f"snap-{s:010d}" for s in range(6 - keep, 6)]
    assert snapfile.oldest_lsn(tmp_path) == (6 - keep) * 10
    latest = snapfile.load_latest(tmp_path)
    assert latest is not None and latest.info.lsn == 50 and latest.skipped == ()
    assert same(latest.tables["t"].parts["rows"]["a"], np.arange(5, dtype=np.int64))


def test_no_snapshot_is_none(tmp_path: Path) -> None:
    assert snapfile.load_latest(tmp_path) is None
    assert snapfile.load_latest(tmp_path / "absent") is None
    assert snapfile.oldest_lsn(tmp_path) is None


def test_a_crash_mid_save_leaves_only_a_hidden_temp_that_is_ignored(tmp_path: Path) -> None:
    snapfile.save(tmp_path, {"t": _state(2)}, lsn=1)
    (tmp_path / ".snap-0000000002.tmp").mkdir()
    (tmp_path / ".snap-0000000002.tmp" / "t.rows.arrow").write_bytes(b"half")
    loaded = snapfile.load_latest(tmp_path)
    assert loaded is not None and loaded.info.seq == 1
    info = snapfile.save(tmp_path, {"t": _state(3)}, lsn=2)
    assert info.seq == 2 and snapfile.verify(info.path).lsn == 2


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def _set_format(path: Path) -> None:
    manifest = json.loads(path.read_text())
    manifest["format"] = 99
    path.write_text(json.dumps(manifest))


DAMAGE: list[tuple[str, str, Callable[[Path], None], str]] = [
    ("bit flip in a data file", "t.rows.arrow", _flip, "fails its sha256"),
    ("truncated data file", "t.rows.arrow", lambda p: p.write_bytes(p.read_bytes()[:-9]),
     "bytes, manifest says"),
    ("deleted data file", "t.rows.arrow", Path.unlink, "t.rows.arrow is missing"),
    ("deleted manifest", "manifest.json", Path.unlink, "manifest.json is missing"),
    ("truncated manifest", "manifest.json", lambda p: p.write_text(p.read_text()[:30]),
     "not valid JSON"),
    ("foreign format", "manifest.json", _set_format, "format 99, expected 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "target", "damage", "message"), DAMAGE, ids=[d[0] for d in DAMAGE]
)
def test_damaged_newest_snapshot_is_refused_and_the_previous_one_loads(
    tmp_path: Path,
    name: str,
    target: str,
    damage: Callable[[Path], None],
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    snapfile.save(tmp_path, {"t": _state(4)}, lsn=4)
    newest = snapfile.save(tmp_path, {"t": _state(9)}, lsn=9)
    damage(newest.path / target)
    with pytest.raises(ValueError, match=message):
        snapfile.verify(newest.path)
    loaded = snapfile.load_latest(tmp_path)
    assert loaded is not None and loaded.info.lsn == 4
    assert len(loaded.skipped) == 1 and message in loaded.skipped[0]
    assert str(newest.path) in loaded.skipped[0] and message in caplog.text
    assert same(list(loaded.tables["t"].parts["rows"]["s"]), [f"v{i}" for i in range(4)])


def test_every_snapshot_damaged_is_an_error_not_an_empty_start(tmp_path: Path) -> None:
    for lsn in (1, 2):
        info = snapfile.save(tmp_path, {"t": _state(lsn)}, lsn=lsn)
        _flip(info.path / "t.rows.arrow")
    with pytest.raises(ValueError, match=r"no valid snapshot.*snap-0000000002.*snap-0000000001"):
        snapfile.load_latest(tmp_path)
    shutil.rmtree(snapfile.list_snapshots(tmp_path)[0])
    with pytest.raises(ValueError):
        snapfile.load_latest(tmp_path)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda d: snapfile.save(d, {"../x": _state(1)}, lsn=1), "'../x'"),
        (lambda d: snapfile.save(d, {".hidden": _state(1)}, lsn=1), "'.hidden'"),
        (lambda d: snapfile.save(d, {"t": _state(1)}, lsn=1, keep=0), "keep must be at least 1: 0"),
        (lambda d: TableState({}, {"rows": {"a": [1, 2], "b": [1]}}), "'rows' differ in length"),
    ],
)
def test_bad_arguments_name_the_value(
    tmp_path: Path, call: Callable[[Path], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call(tmp_path)
    assert snapfile.list_snapshots(tmp_path) == []
