"""A plain model of a skip/replace/error batch, written from the rules in
``engine/colupsert.py``'s docstring (not from its code), for the upsert tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """What a batch must do: ``refused`` indexes (then nothing changes), or the counts
    and the model's records afterwards."""

    refused: list[int]
    counts: tuple[int, int, int] = (0, 0, 0)
    after: dict[Any, Any] | None = None


def model_upsert(
    stored: dict[Any, Any],
    batch: Sequence[Any],
    mode: str,
    key: Callable[[Any], Any],
    unique: Callable[[Any], Any] | None = None,
) -> Outcome:
    """Apply ``batch`` to a copy of ``stored`` (key -> record) by ``mode``."""
    owners = {} if unique is None else {unique(r): k for k, r in stored.items()}
    refused: list[int] = []
    seen: set[Any] = set()
    if mode == "error":
        keys: set[Any] = set()
        for i, record in enumerate(batch):
            k = key(record)
            if k in stored or k in keys:
                refused.append(i)
                continue
            keys.add(k)
            if unique is not None:
                v = unique(record)
                if v in owners or v in seen:
                    refused.append(i)
                seen.add(v)
        written = list(range(len(batch)))
    else:
        chosen: dict[Any, int] = {}
        for i, record in enumerate(batch):
            if mode == "skip":
                chosen.setdefault(key(record), i)
            else:
                chosen[key(record)] = i
        written = sorted(i for k, i in chosen.items() if mode == "replace" or k not in stored)
        for i in written if unique is not None else ():
            assert unique is not None
            v, k = unique(batch[i]), key(batch[i])
            if owners.get(v, k) != k or v in seen:
                refused.append(i)
            else:
                seen.add(v)
    if refused:
        return Outcome(sorted(refused))
    after = dict(stored)
    replaced = sum(key(batch[i]) in stored for i in written)
    after.update((key(batch[i]), batch[i]) for i in written)
    return Outcome([], (len(written) - replaced, len(batch) - len(written), replaced), after)
