"""A roster of developers read from CSV: who works where, in which division and team.

The header names the columns ``email``, ``name``, ``region``, ``division`` and
``team`` in any order and letter case; other columns are ignored; a UTF-8 byte
order mark (as spreadsheet programs write) is dropped. Every row is checked and
every problem is reported at once, naming the row (the line of the file, the
header being line 1) and the column.

Regions are normalised conservatively: the four codes in any letter case, and
only aliases that mean the same area (``USA``, ``United States`` -> US;
``Europe``, ``European Union`` -> EU; ``Asia-Pacific``, ``Asia Pacific`` ->
APAC). An empty cell is ``other`` (not known). Wider areas (``EMEA``,
``Americas``) are refused rather than guessed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from infertrace.activity.identity import developer_id_for, normalize_email
from infertrace.activity.records import Developer, Region
from infertrace.errors import InvalidParameter

COLUMNS = ("email", "name", "region", "division", "team")
"""The columns a roster must have."""
MAX_REPORTED = 20
"""Problems listed in an error message; the rest are counted."""

REGION_ALIASES: dict[str, Region] = {
    **{r.value.lower(): r for r in Region},
    "": Region.OTHER,
    "usa": Region.US,
    "united states": Region.US,
    "europe": Region.EU,
    "european union": Region.EU,
    "asia-pacific": Region.APAC,
    "asia pacific": Region.APAC,
}
"""Lower-cased, space-trimmed cell text -> region."""


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One row of a roster; ``developer_id`` from the email (:func:`developer_id_for`)."""

    line: int
    developer_id: str
    email: str
    name: str
    region: Region
    division: str
    team: str


def region_of(text: str) -> Region:
    """The region ``text`` names (see the module docstring); InvalidParameter otherwise."""
    region = REGION_ALIASES.get(" ".join(text.split()).lower())
    if region is None:
        allowed = ", ".join(r.value for r in Region)
        raise InvalidParameter("region", f"region {text!r} is not one of {allowed} (or an alias)")
    return region


def read_roster(path: str | Path) -> list[RosterEntry]:
    """The entries of the roster file ``path``, in file order. O(rows)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidParameter("roster", f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise InvalidParameter("roster", f"cannot read {path}: {exc.strerror}") from exc
    return parse_roster(text.splitlines(keepends=True), str(path))


def parse_roster(lines: Iterable[str], source: str = "roster") -> list[RosterEntry]:
    """Entries from CSV text lines (a BOM on the first is dropped); InvalidParameter
    names every bad row and column, a missing column, or an email given twice."""
    rows = csv.reader(_without_bom(lines))
    header = next(rows, None)
    if header is None:
        raise InvalidParameter("roster", f"{source} is empty: need a header {','.join(COLUMNS)}")
    where = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [c for c in COLUMNS if c not in where]
    if missing:
        raise InvalidParameter(
            missing[0],
            f"{source}: the header {header!r} lacks column(s) {', '.join(missing)} "
            f"(need {','.join(COLUMNS)})",
        )
    index = [where[c] for c in COLUMNS]
    entries: list[RosterEntry] = []
    problems: list[tuple[int, str, str]] = []
    first_line: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue  # blank lines, as spreadsheets leave at the end
        cells = [row[i].strip() if i < len(row) else "" for i in index]
        found = _entry(number, cells, first_line, problems)
        if found is not None:
            entries.append(found)
    if problems:
        shown = [f"row {row}, column {col}: {why}" for row, col, why in problems[:MAX_REPORTED]]
        more = len(problems) - MAX_REPORTED
        tail = f"; and {more} more" if more > 0 else ""
        raise InvalidParameter(problems[0][1], f"{source}: " + "; ".join(shown) + tail)
    return entries


def _entry(
    line: int, cells: list[str], first_line: dict[str, int], problems: list[tuple[int, str, str]]
) -> RosterEntry | None:
    email, name, region_text, division, team = cells
    bad = len(problems)
    try:
        email = normalize_email(email)
    except InvalidParameter:
        problems.append((line, "email", f"{email!r} is not an email address"))
    else:
        if email in first_line:
            problems.append((line, "email", f"{email!r} is already on row {first_line[email]}"))
        first_line.setdefault(email, line)
    try:
        region = region_of(region_text)
    except InvalidParameter as exc:
        problems.append((line, "region", exc.message))
    if len(problems) > bad:
        return None
    return RosterEntry(line, developer_id_for(email), email, name, region, division, team)


def _without_bom(lines: Iterable[str]) -> Iterable[str]:
    first = True
    for line in lines:
        yield line.removeprefix("\ufeff") if first else line
        first = False


def developer_of(entry: RosterEntry, created_at: int) -> Developer:
    """The :class:`Developer` a roster entry describes, created at ``created_at``."""
    return Developer(entry.developer_id, entry.email, entry.name, entry.region, entry.division,
                     entry.team, created_at)  # fmt: skip
