import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from infertrace.engine.arena import ValueArena
from infertrace.engine.zonemap import ZoneMap


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3)), max_size=40))
def test_arena_returns_what_was_appended_across_growth(ops: list[tuple[int, int]]) -> None:
    arena = ValueArena(initial=16)
    live: list[tuple[int, np.ndarray]] = []
    counter = 0.0
    for n, drop in ops:
        vals = np.arange(counter, counter + n)
        counter += n
        live.append((arena.append(vals), vals))
        for _ in range(min(drop, len(live) - 1)):
            live.pop(0)
        arena.release_to(live[0][0])
        arena._check()
        for off, vals in live:
            got = arena.take(np.arange(off, off + len(vals), dtype=np.int64))
            assert np.array_equal(got, vals)


@given(st.lists(st.lists(st.integers(0, 10**6), min_size=1, max_size=30), max_size=30))
def test_zone_bounds_always_cover_live_values(batches: list[list[int]]) -> None:
    cap, chunk = 50, 8
    col = np.zeros(cap, dtype=np.int64)
    zone = ZoneMap(cap, chunk)
    head = 0
    for batch in batches:
        for v in batch[-cap:]:
            slot = head % cap
            col[slot] = v
            zone.update(slot, np.array([v], dtype=np.int64), col)
            head += 1
        live = min(head, cap)
        for k in range(len(zone)):
            slots = [
                s for s in range(k * chunk, min(cap, (k + 1) * chunk)) if s < live or head >= cap
            ]
            for s in slots:
                assert zone.lo[k] <= col[s] <= zone.hi[k]
