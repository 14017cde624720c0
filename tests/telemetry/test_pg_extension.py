"""The TimescaleDB decision from catalog facts: every state an operator meets, one table.

These are the states of a TimescaleDB server that plain PostgreSQL cannot take
(the extension offered but not preloaded, preloaded but not creatable, created in
another schema); ``tests/integration/test_postgres_extension.py`` reads the same
facts from a real catalog, with contrib extensions standing in.
"""

from __future__ import annotations

import dataclasses

import pytest

from infertrace.telemetry.postgres.extension import Facts, decide, preload_entries

BASE = Facts(
    offered="2.28.3",
    schema=None,
    version=None,
    preload_setting="timescaledb",
    loader_loaded=True,
    superuser=True,
    needs_superuser=False,
    can_create=True,
    role="app",
    database="telemetry",
)


def facts(**changes: object) -> Facts:
    return dataclasses.replace(BASE, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "want", "use", "create", "says"),
    [
        (facts(offered=None), None, False, False, "not installed on this server"),
        (facts(offered=None), True, False, False, "not installed on this server"),
        # files installed, library not preloaded: CREATE EXTENSION would be FATAL
        (
            facts(preload_setting="pg_stat_statements", loader_loaded=False),
            None,
            False,
            False,
            "not preloaded (shared_preload_libraries = 'pg_stat_statements'); add timescaledb",
        ),
        (facts(preload_setting=""), None, False, False, "not preloaded"),
        # a role that may not read shared_preload_libraries: the loader's setting decides
        (facts(preload_setting=None, loader_loaded=False), None, False, False, "is not loaded"),
        (facts(preload_setting=None, loader_loaded=True), None, True, True, "preloaded"),
        (facts(), None, True, True, "2.28.3 installed on the server, not created"),
        (facts(), False, False, False, "not wanted: using native day partitions"),
        # already created (in public, say): used as it is, nothing created
        (facts(schema="public", version="2.28.3"), None, True, False, "created in schema public"),
        (facts(schema="public", version="2.28.3", can_create=False, superuser=False), None, True,
         False, "preloaded (in shared_preload_libraries): using hypertables"),
        # created but not preloaded: its first function call would end the session
        (facts(schema="public", version="2.28.3", preload_setting=""), None, False, False,
         "not preloaded"),
        # privileges of a non-superuser (item 4: this used to be a silent fallback)
        (facts(superuser=False, can_create=False), None, False, False,
         "role app has no CREATE privilege on database telemetry: using native day partitions"),
        (facts(superuser=False, can_create=True), None, True, True, "using hypertables"),
        (facts(superuser=False, needs_superuser=True), None, False, False,
         "needs a superuser and role app is not one"),
    ],
)  # fmt: skip
def test_decision_and_its_line(state: Facts, want: bool | None, use: bool, create: bool,
                               says: str) -> None:  # fmt: skip
    decision = decide(state, want)
    assert (decision.use, decision.create) == (use, create)
    assert says in decision.line
    assert decision.line.startswith("TimescaleDB: ")
    chosen = "using hypertables" if use else "using native day partitions"
    assert decision.line.endswith(chosen)
    assert "using" not in decision.reason


@pytest.mark.parametrize(
    ("setting", "entries"),
    [
        ("", ()),
        ("timescaledb", ("timescaledb",)),
        ("pg_stat_statements,timescaledb", ("pg_stat_statements", "timescaledb")),
        (' "$libdir/timescaledb.so" , auto_explain', ("timescaledb", "auto_explain")),
        ("timescaledb-2.28.3", ("timescaledb-2.28.3",)),
    ],
)
def test_preload_entries(setting: str, entries: tuple[str, ...]) -> None:
    assert preload_entries(setting) == entries
