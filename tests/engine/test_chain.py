from infertrace.engine.chain import ChainIndex


def test_rows_follow_links_newest_first_and_stop_at_tail() -> None:
    idx = ChainIndex(8)
    idx.add([b"a", b"b", b"a", b"a"], 0)
    assert idx.rows(b"a", 0) == [3, 2, 0]
    assert idx.rows(b"a", 1) == [3, 2]
    assert idx.rows(b"b", 0) == [1]
    assert idx.rows(b"zz", 0) == []


def test_evicting_the_newest_row_drops_the_key() -> None:
    idx = ChainIndex(4)
    idx.add([b"a", b"b", b"a"], 0)
    idx.evict([b"a", b"b"], 0)  # row 0 (a) and row 1 (b) leave
    assert b"b" not in idx.newest
    assert idx.rows(b"a", 2) == [2]
    idx.evict([b"a"], 2)
    assert len(idx) == 0
    idx._check(3, 3)
