import pytest

from infertrace.engine.ring import RingBuffer


def test_reserve_evicts_oldest_and_reports_range() -> None:
    seen: list[tuple[int, int]] = []
    ring = RingBuffer(4, lambda lo, hi: seen.append((lo, hi)))
    assert ring.reserve(3) == 0
    assert ring.reserve(3) == 3
    assert seen == [(0, 2)]
    assert (ring.tail, ring.head, len(ring), ring.evicted) == (2, 6, 4, 2)
    ring._check()


@pytest.mark.parametrize(
    ("capacity", "lo", "hi", "expected"),
    [
        (4, 0, 4, [(0, 4, 0)]),
        (4, 2, 6, [(2, 4, 0), (0, 2, 2)]),
        (4, 5, 6, [(1, 2, 0)]),
        (3, 1, 7, [(1, 3, 0), (0, 3, 2), (0, 1, 5)]),
        (4, 3, 3, []),
    ],
)
def test_spans_cover_sequence_range(
    capacity: int, lo: int, hi: int, expected: list[tuple[int, int, int]]
) -> None:
    assert RingBuffer(capacity).spans(lo, hi) == expected


def test_evict_to_is_bounded_by_head() -> None:
    ring = RingBuffer(8)
    ring.reserve(5)
    assert ring.evict_to(100) == 5
    assert len(ring) == 0 and ring.tail == ring.head == 5
    assert ring.evict_to(3) == 0


@pytest.mark.parametrize("bad", [0, -1])
def test_capacity_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(bad)


def test_reserve_more_than_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot reserve 5"):
        RingBuffer(4).reserve(5)
