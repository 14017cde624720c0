"""``activity.roster``: CSV rosters, good and bad, table-driven."""

from __future__ import annotations

from pathlib import Path

import pytest

from infertrace.activity.identity import developer_id_for
from infertrace.activity.records import Region
from infertrace.activity.roster import (
    COLUMNS,
    MAX_REPORTED,
    developer_of,
    parse_roster,
    read_roster,
    region_of,
)
from infertrace.errors import InvalidParameter

GOOD = [
    ("ana@example.com", "Ana Lima", "EU", "Platform", "infra"),
    ("Raj@Example.com", "Raj Patel", "apac", "Research", "models"),
    ("li@example.com", "李雷", "US", "Platform", "web"),
    ("sam@example.com", "", "", "", ""),
]


def csv_text(header: list[str], rows: list[tuple[str, ...]]) -> str:
    quote = lambda c: f'"{c}"' if "," in c else c  # noqa: E731
    return "\n".join(",".join(quote(c) for c in line) for line in [tuple(header), *rows]) + "\n"


@pytest.mark.parametrize("bom", ["", "\ufeff"])
@pytest.mark.parametrize(
    "order",
    [list(COLUMNS), ["team", "email", "region", "name", "division"],
     ["Team ", " EMAIL", "Region", "extra", "Name", "DIVISION", "notes"]],
)  # fmt: skip
def test_good_rows_in_any_column_order(order: list[str], bom: str, tmp_path: Path) -> None:
    canonical = [c.strip().lower() for c in order]
    rows = [
        tuple(dict(zip(COLUMNS, row, strict=True)).get(c, f"x-{c}") for c in canonical)
        for row in GOOD
    ]
    path = tmp_path / "roster.csv"
    path.write_text(bom + csv_text(order, rows), encoding="utf-8")
    entries = read_roster(path)
    assert len(entries) == len(GOOD)
    for entry, (email, name, region, division, team) in zip(entries, GOOD, strict=True):
        assert entry.email == email.lower()
        assert entry.developer_id == developer_id_for(email)
        assert (entry.name, entry.division, entry.team) == (name, division, team)
        assert entry.region.value.lower() == (region.lower() or "other")
    assert [e.line for e in entries] == list(range(2, 2 + len(GOOD)))


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("US", Region.US), ("us", Region.US), ("USA", Region.US), ("United States", Region.US),
        ("eu", Region.EU), ("Europe", Region.EU), ("European  Union", Region.EU),
        ("APAC", Region.APAC), ("Asia-Pacific", Region.APAC), ("asia pacific", Region.APAC),
        ("other", Region.OTHER), ("OTHER", Region.OTHER), ("", Region.OTHER), ("  ", Region.OTHER),
    ],
)  # fmt: skip
def test_region_aliases(text: str, region: Region) -> None:
    assert region_of(text) is region


@pytest.mark.parametrize("text", ["EMEA", "Americas", "Mars", "U.S.", "asia"])
def test_regions_not_guessed(text: str) -> None:
    with pytest.raises(InvalidParameter, match=repr(text)) as caught:
        region_of(text)
    assert caught.value.name == "region"


@pytest.mark.parametrize(
    ("row", "column", "fragment"),
    [
        (("not-an-email", "N", "EU", "d", "t"), "email", "'not-an-email' is not an email"),
        (("", "N", "EU", "d", "t"), "email", "'' is not an email"),
        (("a b@example.com", "N", "EU", "d", "t"), "email", "is not an email"),
        (("x@example.com", "N", "Mars", "d", "t"), "region", "'Mars' is not one of"),
        (("ANA@example.com", "N", "EU", "d", "t"), "email", "is already on row 2"),
    ],
)
def test_a_bad_cell_is_named_by_row_and_column(
    row: tuple[str, ...], column: str, fragment: str
) -> None:
    text = csv_text(list(COLUMNS), [GOOD[0], row])
    with pytest.raises(InvalidParameter) as caught:
        parse_roster(text.splitlines(keepends=True), "team.csv")
    assert caught.value.name == column
    message = str(caught.value)
    assert message.startswith("team.csv: row 3, column " + column)
    assert fragment in message


@pytest.mark.parametrize("missing", COLUMNS)
def test_a_missing_column_is_named(missing: str) -> None:
    header = [c for c in COLUMNS if c != missing]
    with pytest.raises(InvalidParameter, match=f"lacks column\\(s\\) {missing}") as caught:
        parse_roster([",".join(header) + "\n", "a@b.org,x,y,z\n"])
    assert caught.value.name == missing


def test_every_bad_row_is_reported_up_to_a_limit() -> None:
    bad = [(f"u{i}", "N", "EU", "d", "t") for i in range(MAX_REPORTED + 5)]
    text = csv_text(list(COLUMNS), [GOOD[0], *bad])
    with pytest.raises(InvalidParameter) as caught:
        parse_roster(text.splitlines(keepends=True))
    message = str(caught.value)
    assert message.count("column email") == MAX_REPORTED
    assert message.endswith("and 5 more")
    assert "row 3," in message and f"row {2 + MAX_REPORTED}," in message


def test_blank_lines_are_skipped_and_short_rows_read_as_empty() -> None:
    text = "email,name,region,division,team\n\n,,,,\nkim@example.com,Kim\n\n"
    [entry] = parse_roster(text.splitlines(keepends=True))
    assert (entry.email, entry.name, entry.region, entry.team, entry.line) == (
        "kim@example.com", "Kim", Region.OTHER, "", 4,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is empty"), (b"\xff\xfe\x00bad", "not UTF-8")],
)
def test_unreadable_files(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidParameter, match=fragment):
        read_roster(path)
    with pytest.raises(InvalidParameter, match="cannot read"):
        read_roster(tmp_path / "absent.csv")


def test_developer_of_keeps_every_field() -> None:
    [entry] = parse_roster(["email,name,region,division,team\n", "Ana@X.org,Ana,eu,D,T\n"])
    dev = developer_of(entry, 123)
    assert (dev.id, dev.email, dev.name, dev.region, dev.division, dev.team, dev.created_at) == (
        developer_id_for("ana@x.org"), "ana@x.org", "Ana", Region.EU, "D", "T", 123,
    )  # fmt: skip
