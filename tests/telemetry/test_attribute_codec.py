"""The attribute codec: shared map objects encode exactly like distinct copies.

The decoders hand the store one map object for every span that carries the
same attribute list, and the codec then encodes each distinct object once and
gathers the rows with NumPy. These tests hold that path to the one-by-one path:
same decoded maps, same reference counts, and everything released again when
the rows go.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infertrace.engine.strings import ValueDict
from infertrace.telemetry.memory.attrs import AttributeCodec

SHAPES: list[dict[str, Any]] = [
    {},
    {"gen_ai.system": "vllm", "gen_ai.request.model": "llama-3-8b"},
    {"gen_ai.usage.input_tokens": 12, "ratio": 0.5, "stream": True},
    {"big": 2**60, "tags": ("a", "b"), "raw": b"\x00\x01"},
    {"gen_ai.system": "vllm", "n": -3},
]


def _decoded(codec: AttributeCodec, shapes: Any, offsets: Any) -> list[Mapping[str, Any]]:
    buf = codec.arena.buf
    return [
        codec.decode(int(s), int(o), memoryview(buf), len(buf))  # type: ignore[arg-type]
        for s, o in zip(shapes, offsets, strict=True)
    ]


def _refs(d: ValueDict) -> dict[Any, int]:
    return {d.values[c]: d.refcount(c) for c in d.live_codes()}


def _both(picks: list[int]) -> tuple[AttributeCodec, Any, AttributeCodec, Any]:
    """Encode the same rows twice: sharing one object per shape, and one copy per row."""
    shared = [MappingProxyType(m) for m in SHAPES]
    rows_shared = [shared[i] for i in picks]
    rows_copied = [MappingProxyType(dict(SHAPES[i])) for i in picks]
    a, b = AttributeCodec(ValueDict()), AttributeCodec(ValueDict())
    return a, a.encode(rows_shared), b, b.encode(rows_copied)


@pytest.mark.parametrize(
    "picks",
    [
        [1] * 10,  # one object for every row: the gathered path
        [1, 2, 1, 2, 1, 2],
        [0, 0, 0, 3, 3, 3],  # empty maps and dictionary-coded values
        [4, 1, 4, 1, 3, 3, 3, 0],
        [1, 2, 3, 4],  # all distinct: the one-by-one path
    ],
)
def test_shared_objects_encode_like_copies(picks: list[int]) -> None:
    a, got_a, b, got_b = _both(picks)
    assert got_a is not None and got_b is not None
    assert _decoded(a, *got_a) == _decoded(b, *got_b) == [SHAPES[i] for i in picks]
    assert _refs(a.values) == _refs(b.values)
    assert _refs(a.shapes) == _refs(b.shapes)
    a.values._check()
    a.shapes._check()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(SHAPES) - 1), min_size=1, max_size=40), st.data())
def test_release_gives_everything_back(picks: list[int], data: st.DataObject) -> None:
    a, got, _, _ = _both(picks)
    assert got is not None
    shapes, offsets = got
    cut = data.draw(st.integers(0, len(picks)))  # rows go oldest first, in two steps
    a.release(shapes[:cut], offsets[:cut])
    left = _decoded(a, shapes[cut:], offsets[cut:])
    assert left == [SHAPES[i] for i in picks[cut:]]
    a.release(shapes[cut:], offsets[cut:])
    assert a.values.live_codes() == []
    assert a.shapes.live_codes() == [0]  # the empty shape never dies
    a.values._check()


def test_a_bad_value_in_a_shared_map_retains_nothing() -> None:
    bad = MappingProxyType({"ok": "x", "bad": object()})
    codec = AttributeCodec(ValueDict())
    assert codec.encode([bad] * 6) is None
    assert codec.values.live_codes() == [] and len(codec.arena) == 0
    assert np.array_equal(codec.shapes.live_codes(), [0])
