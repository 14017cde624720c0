"""gc_paused: the collector is off inside the block and back as it was after, errors too."""

from __future__ import annotations

import gc
from contextlib import nullcontext

import pytest

from infertrace.engine.gcpause import gc_paused


@pytest.mark.parametrize("enabled", [True, False])
@pytest.mark.parametrize("fails", [False, True])
def test_the_collector_is_paused_and_left_as_it_was(enabled: bool, fails: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with pytest.raises(RuntimeError) if fails else nullcontext(), gc_paused():
            assert not gc.isenabled()
            if fails:
                raise RuntimeError("boom")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
