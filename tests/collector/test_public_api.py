from __future__ import annotations

import infertrace.collector as collector


def test_all_names_exist_and_are_documented() -> None:
    assert sorted(collector.__all__) == collector.__all__
    for name in collector.__all__:
        obj = getattr(collector, name)
        assert obj.__doc__, name
