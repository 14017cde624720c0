"""Records validate every field on construction and name the bad one."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import pytest

from infertrace.activity import Change, ChangeKind, Commit, Developer, Region, Session
from infertrace.errors import InvalidParameter

GOOD: dict[type[Any], dict[str, Any]] = {
    Developer: {"id": "d1", "email": "a@b.org"},
    Commit: {"sha": "abcdef1", "developer_id": "d1", "repo": "r", "timestamp": 1},
    Change: {"id": "c1", "developer_id": "d1", "timestamp": 1},
    Session: {"id": "s1", "developer_id": "d1", "tool": "claude-code", "started_at": 1,
              "ended_at": 2},
}  # fmt: skip

BAD = [
    (Developer, "id", ""),
    (Developer, "email", "no-at-sign"),
    (Developer, "email", "two@@x.org"),
    (Developer, "email", " a@b.org"),
    (Developer, "region", "MARS"),
    (Developer, "team", None),
    (Developer, "created_at", -1),
    (Commit, "sha", "xyz1234"),
    (Commit, "sha", "abc"),
    (Commit, "developer_id", 7),
    (Commit, "timestamp", 1.5),
    (Commit, "additions", -1),
    (Commit, "deletions", True),
    (Commit, "ai_assisted", 1),
    (Commit, "ai_tool", "claude-code"),  # without ai_assisted
    (Change, "kind", "robot"),
    (Change, "lines_added", -3),
    (Change, "accepted", "yes"),
    (Change, "commit_sha", "not-hex!"),
    (Session, "ended_at", 0),  # before started_at
    (Session, "input_tokens", -1),
    (Session, "cost_usd", float("nan")),
    (Session, "cost_usd", -0.5),
    (Session, "tool", ""),
    # past int64: the store's columns could not hold them (a 500 found by fuzzing)
    (Developer, "created_at", 2**63),
    (Commit, "timestamp", 2**63),
    (Commit, "additions", 2**64),
    (Change, "timestamp", 2**63),
    (Change, "lines_removed", 2**63),
    (Session, "ended_at", 2**63),
    (Session, "output_tokens", 2**63),
]


@pytest.mark.parametrize(("kind", "field", "value"), BAD, ids=lambda v: repr(v)[:20])
def test_a_bad_field_is_refused_by_name(kind: type[Any], field: str, value: Any) -> None:
    with pytest.raises(InvalidParameter) as err:
        kind(**{**GOOD[kind], field: value})
    assert err.value.name == field
    assert repr(value)[:10] in str(err.value) or field in str(err.value)


@pytest.mark.parametrize(("kind", "field"), [(Commit, "timestamp"), (Change, "lines_added")])
def test_the_largest_int64_is_kept(kind: type[Any], field: str) -> None:
    assert getattr(kind(**{**GOOD[kind], field: 2**63 - 1}), field) == 2**63 - 1


@pytest.mark.parametrize("kind", list(GOOD), ids=lambda k: k.__name__)
def test_records_are_frozen_and_slotted(kind: type[Any]) -> None:
    record = kind(**GOOD[kind])
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, dataclasses.fields(record)[1].name, "other")
    assert not hasattr(record, "__dict__")


def test_values_are_normalised() -> None:
    d = Developer("d1", "Ann@Example.ORG", region="EU")
    assert d.email == "ann@example.org" and d.region is Region.EU
    c = Commit("ABCDEF1", "d1", "r", 1)
    assert c.sha == "abcdef1"
    ch = Change("c1", "d1", 1, kind="manual", commit_sha="ABCDEF1")
    assert ch.kind is ChangeKind.MANUAL and ch.commit_sha == "abcdef1"
    s = Session("s1", "d1", "t", 1, 2, 3, 4, 2)
    assert s.cost_usd == 2.0 and type(s.cost_usd) is float and s.tokens == 7


def test_repeated_strings_are_interned() -> None:
    team = "".join(["pay", "ments"])  # a fresh string, as a decoder would make
    a = Developer("d1", "a@b.org", team=team)
    b = Developer("d2", "b@b.org", team="".join(["pay", "ments"]))
    assert a.team is b.team is sys.intern("payments")
