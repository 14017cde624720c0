import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from infertrace.engine.strings import ValueDict


def test_codes_are_reused_after_release() -> None:
    d = ValueDict()
    codes = np.array(d.codes(["a", "b", "a"]), dtype=np.int32)
    d.retain(codes)
    assert d.refcount(int(codes[0])) == 2
    d.release(codes[:2])
    assert "a" in d and "b" not in d
    c = d.code("c")
    assert c == int(codes[1])  # b's code was freed and reused
    d.retain(np.array([c], dtype=np.int32))
    d._check()


def test_codes_or_none_maps_none_to_minus_one() -> None:
    d = ValueDict()
    out = d.codes_or_none(["x", None, "x"])
    assert out[1] == -1 and out[0] == out[2] >= 0


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=20), max_size=30))
def test_dictionary_holds_exactly_the_live_values(batches: list[list[str]]) -> None:
    d = ValueDict()
    live: list[np.ndarray] = []
    for i, batch in enumerate(batches):
        codes = np.array(d.codes(batch), dtype=np.int32)
        d.retain(codes)
        live.append(codes)
        if i % 2:
            d.release(live.pop(0))
        d._check()
    expected = {d.values[c] for arr in live for c in arr.tolist()}
    assert {v for v in d.values if v is not None} == expected
    assert len(d) == len(expected)


@pytest.mark.parametrize(
    ("adds", "drops"),
    [
        (["a", "b", "c", "d"], ["b"]),
        (["a", "b", "c", "d", "e"], ["d", "a", "e"]),
        (["x"], ["x"]),
        ([f"v{i}" for i in range(100)], [f"v{i}" for i in range(0, 100, 7)]),
    ],
)
def test_rebuilt_dictionary_hands_out_codes_as_the_original(
    adds: list[str], drops: list[str]
) -> None:
    original = ValueDict()
    codes = np.array(original.codes(adds), dtype=np.int32)
    original.retain(codes)
    for v in drops:
        original.release(np.array([original.get(v)], dtype=np.int32))
    rebuilt = ValueDict.from_values(original.values, original.refcounts(), original.ranks())
    rebuilt._check()
    assert list(rebuilt._code.items()) == list(original._code.items())
    fresh = ["new1", "new2", *drops]
    assert rebuilt.codes(fresh) == original.codes(fresh)


def test_rebuilt_dictionary_refuses_counts_of_another_length() -> None:
    with pytest.raises(ValueError, match="3 counts for 2 codes"):
        ValueDict.from_values(["a", "b"], np.ones(3, dtype=np.int64))
