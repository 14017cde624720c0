"""Compact columnar encoding of per-row attribute maps.

A map is split into its *shape* — the tuple of keys and one type tag per
value, a handful of distinct shapes per workload, dictionary-encoded — and its
values, appended as float64 to a :class:`ValueArena`. Strings and other
non-numeric values go through a reference-counted :class:`ValueDict` and are
stored as their code. A row then costs one int32 shape code, one int64 offset
and 8 bytes per value, instead of a Python dict of boxed objects.

Tags: ``s`` str, ``f`` float, ``i`` int (exact in a float64), ``b`` bool,
``o`` anything else (bytes, tuples, huge ints), kept as a typed key in the
value dictionary so that ``1``, ``1.0`` and ``True`` never collide.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from infertrace.engine.arena import ValueArena
from infertrace.engine.ring import RingBuffer
from infertrace.engine.strings import ValueDict
from infertrace.model import EMPTY_ATTRIBUTES, Attributes, AttributeValue

EXACT_INT = 2**53
Shape = tuple[tuple[str, ...], str]
EMPTY_SHAPE: Shape = ((), "")


def _other_key(v: object) -> Hashable:
    if isinstance(v, tuple):
        return ("t", tuple(type(x).__name__ for x in v), v)
    return ("o", type(v).__name__, v)


class AttributeCodec:
    """Encodes attribute maps of appended rows; decodes them for output.

    ``values`` is shared with the owning table's string columns. Not
    thread-safe: the table's lock guards it.
    """

    def __init__(self, values: ValueDict) -> None:
        self.values = values
        self.shapes = ValueDict()
        self.arena = ValueArena()
        self.floor = 0
        """Where the arena's live values start when no row is left (see
        :meth:`release_arena_after`)."""
        self._plans: dict[tuple[tuple[str, ...], tuple[type, ...]], _Plan] = {}
        empty = self.shapes.code(EMPTY_SHAPE)
        assert empty == 0
        self.shapes.retain(np.zeros(1, dtype=np.int32))  # the empty shape never dies

    def encode(
        self, maps: Sequence[Mapping[str, AttributeValue]]
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] | None:
        """(shape codes, arena offsets) for ``maps``; None if a value has an unknown type.

        Nothing is retained when None is returned, so the caller can reject the
        batch without undoing anything. O(total values).

        The decoders share one map object among the spans that carry the same
        attribute list, so when a batch holds each object at least twice on
        average, each distinct object is encoded once in Python and the rows
        are gathered from it with NumPy (the rows stay independent in the
        arena: eviction releases each row's values on its own).
        """
        ids = list(map(id, maps))
        firsts = dict(zip(ids, maps, strict=True))  # one entry per object, first-seen order
        if 2 * len(firsts) > len(ids):
            return self._encode_each(maps)
        distinct = list(firsts.values())
        order = {k: j for j, k in enumerate(firsts)}
        inv = np.fromiter(map(order.__getitem__, ids), np.int64, len(ids))
        coded = self._coded(distinct)
        if coded is None:
            return None
        uflat, codes, str_pos, ushapes, ustarts = coded
        bounds = np.array([*ustarts, len(uflat)], dtype=np.int64)
        widths = np.diff(bounds)[inv]
        starts = np.zeros(len(ids), dtype=np.int64)
        np.cumsum(widths[:-1], out=starts[1:])
        gather = np.repeat(bounds[:-1][inv] - starts, widths) + np.arange(int(widths.sum()))
        flat = np.array(uflat, dtype=np.float64)[gather]
        shape_codes = ushapes[inv]
        uses = np.bincount(inv, minlength=len(distinct))  # rows per distinct map
        owner = np.searchsorted(bounds, np.array(str_pos, dtype=np.int64), side="right") - 1
        self.shapes.retain(shape_codes)
        self.values.retain(np.repeat(np.array(codes, dtype=np.int32), uses[owner]))
        starts += self.arena.append(flat)
        return shape_codes, starts

    def _encode_each(
        self, maps: Sequence[Mapping[str, AttributeValue]]
    ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]] | None:
        """:meth:`encode` for a batch of mostly distinct map objects: one pass over all."""
        coded = self._coded(maps)
        if coded is None:
            return None
        flat, codes, _, shape_codes, starts = coded
        self.shapes.retain(shape_codes)
        self.values.retain(np.array(codes, dtype=np.int32))
        base = self.arena.append(np.array(flat, dtype=np.float64))
        offsets = np.array(starts, dtype=np.int64)
        offsets += base
        return shape_codes, offsets

    def _coded(
        self, maps: Sequence[Mapping[str, AttributeValue]]
    ) -> tuple[list[Any], list[int], list[int], npt.NDArray[np.int32], list[int]] | None:
        """:meth:`_flatten`, with the dictionary codes in place of the string values.

        (flat values, the codes, their positions in flat, shape code per map,
        start of each map); None if a value has an unknown type. Codes are
        looked up (new values added unreferenced), nothing is retained.
        """
        parts = self._flatten(maps)
        if parts is None:
            return None
        flat, strs, str_pos, shape_keys, starts = parts
        codes = self.values.codes(strs)
        for pos, code in zip(str_pos, codes, strict=True):
            flat[pos] = code
        shape_codes = np.array(self.shapes.codes(shape_keys), dtype=np.int32)
        return flat, codes, str_pos, shape_codes, starts

    def _flatten(
        self, maps: Sequence[Mapping[str, AttributeValue]]
    ) -> tuple[list[Any], list[Hashable], list[int], list[Hashable], list[int]] | None:
        """Every map's values in one list, with where its strings are and its shape.

        (flat values, dictionary keys of the string/other values, their
        positions in flat, shape per map, start of each map in flat); None if
        a value has an unknown type. Touches no dictionary.
        """
        flat: list[Any] = []
        strs: list[Hashable] = []
        str_pos: list[int] = []
        shape_keys: list[Hashable] = []
        starts: list[int] = []
        s_append, p_append = strs.append, str_pos.append
        plans = self._plans
        for m in maps:
            base = len(flat)
            starts.append(base)
            if not m:
                shape_keys.append(EMPTY_SHAPE)
                continue
            vs: tuple[Any, ...] = tuple(m.values())
            tkey = (tuple(m), tuple(map(type, vs)))
            plan = plans.get(tkey)
            if plan is None:
                plan = _plan(tkey)
                if plan is None:
                    return None
                if len(plans) < 4096:
                    plans[tkey] = plan
            shape, str_idx, int_idx, other_idx = plan
            for i in int_idx:  # a loop, not any(genexpr): no generator per map
                if not -EXACT_INT <= vs[i] <= EXACT_INT:
                    shape, str_idx, other_idx = _big_int_plan(tkey, vs)
                    break
            flat.extend(vs)
            for i in str_idx:
                s_append(vs[i])
                p_append(base + i)
            for i in other_idx:
                v = vs[i]
                if type(v) is tuple and not _primitive_tuple(v):
                    return None
                s_append(_other_key(v))
                p_append(base + i)
            shape_keys.append(shape)
        return flat, strs, str_pos, shape_keys, starts

    def release(self, shape_codes: npt.NDArray[np.int32], offsets: npt.NDArray[np.int64]) -> None:
        """Drop the rows encoded as (shape_codes, offsets), oldest rows first."""
        if not len(shape_codes):
            return
        idx, tags = self._string_positions(shape_codes, offsets)
        if len(idx):
            self.values.release(self.arena.take(idx)[tags].astype(np.int32))
        self.shapes.release(shape_codes)

    def release_arena_after(
        self, offsets: npt.NDArray[np.int64], ring: RingBuffer, hi: int
    ) -> None:
        """After an eviction up to row ``hi``: free the arena below the first value
        of row ``hi`` (the oldest row left), or below :attr:`floor` if none is left.

        ``offsets`` is the table's arena-offset column. Tables set ``floor`` to the
        first offset of what an append keeps, and to the arena head before a purge.
        """
        if hi < ring.head:
            self.release_arena_to(int(offsets[hi % ring.capacity]))
        else:
            self.release_arena_to(self.floor)

    def release_arena_to(self, offset: int) -> None:
        self.arena.release_to(offset)

    def _string_positions(
        self, shape_codes: npt.NDArray[np.int32], offsets: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Arena offsets of every value of the rows, and which are dictionary codes."""
        parts: list[npt.NDArray[np.int64]] = []
        marks: list[npt.NDArray[np.bool_]] = []
        for code in np.unique(shape_codes).tolist():
            _, tags = self.shapes.values[code]
            if not tags:
                continue
            rows = offsets[shape_codes == code]
            width = len(tags)
            parts.append((rows[:, None] + np.arange(width)).ravel())
            is_code = np.array([t in "so" for t in tags])
            marks.append(np.tile(is_code, len(rows)))
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.bool_)
        return np.concatenate(parts), np.concatenate(marks)

    def decode(self, shape: int, offset: int, buf_view: memoryview, cap: int) -> Attributes:
        """The attribute map of one row, as a fresh read-only mapping."""
        if shape == 0:
            return EMPTY_ATTRIBUTES
        keys: tuple[str, ...]
        tags: str
        keys, tags = self.shapes.values[shape]  # type: ignore[misc]
        vals = self.values.values
        out: dict[str, AttributeValue] = {}
        pos = offset
        for k, t in zip(keys, tags, strict=True):
            raw = buf_view[pos % cap]
            pos += 1
            if t == "s":
                out[k] = vals[int(raw)]  # type: ignore[assignment]
            elif t == "f":
                out[k] = raw
            elif t == "i":
                out[k] = int(raw)
            elif t == "b":
                out[k] = raw != 0.0
            else:
                out[k] = vals[int(raw)][2]  # type: ignore[index]
        return MappingProxyType(out)

    def nbytes(self) -> int:
        return self.shapes.nbytes() + self.arena.nbytes()


_Plan = tuple[Shape, tuple[int, ...], tuple[int, ...], tuple[int, ...]]
_TAGS: dict[type, str] = {str: "s", float: "f", int: "i", bool: "b", bytes: "o", tuple: "o"}


def _plan(tkey: tuple[tuple[str, ...], tuple[type, ...]]) -> _Plan | None:
    """How to encode maps with these keys and value types; None if any is invalid.

    Positions of strings, of ints (which must be checked to fit a float64
    exactly) and of other values (bytes, tuples) that go to the dictionary.
    """
    keys, types = tkey
    if any(type(k) is not str or not k for k in keys):
        return None
    tags = [_TAGS.get(t) for t in types]
    if None in tags:
        return None
    tag_str = "".join(tags)  # type: ignore[arg-type]
    return (
        (keys, tag_str),
        tuple(i for i, t in enumerate(tag_str) if t == "s"),
        tuple(i for i, t in enumerate(types) if t is int),
        tuple(i for i, t in enumerate(tag_str) if t == "o"),
    )


def _big_int_plan(
    tkey: tuple[tuple[str, ...], tuple[type, ...]], vs: tuple[object, ...]
) -> tuple[Shape, tuple[int, ...], tuple[int, ...]]:
    """The plan for a map holding ints too large for a float64: those go to the dictionary."""
    keys, types = tkey
    tags = []
    for t, v in zip(types, vs, strict=True):
        big = t is int and not -EXACT_INT <= v <= EXACT_INT  # type: ignore[operator]
        tags.append("o" if big else _TAGS[t])
    tag_str = "".join(tags)
    return (
        (keys, tag_str),
        tuple(i for i, t in enumerate(tag_str) if t == "s"),
        tuple(i for i, t in enumerate(tag_str) if t == "o"),
    )


def _primitive_tuple(v: tuple[object, ...]) -> bool:
    return all(isinstance(x, str | bool | int | float | bytes) for x in v)
