"""Whether a server extension (TimescaleDB) can be used, decided from the catalog alone.

``CREATE EXTENSION timescaledb`` on a server that has the extension's files but not
its library in ``shared_preload_libraries`` ends the session with a FATAL error,
which no savepoint survives. So nothing is tried blind: ``read_facts`` reads what
the catalog says (one query, no side effects), ``decide`` turns the facts into a
choice and one line saying what was found and what was chosen, and only a
``Decision`` with ``create`` set leads to ``CREATE EXTENSION``.

Whether the library is preloaded: ``shared_preload_libraries`` when the role may
read it (superusers and ``pg_read_all_settings``); otherwise whether a setting that
only the preloaded library defines exists with its real type (TimescaleDB's loader
defines ``timescaledb.disable_load``, a boolean; a placeholder from the
configuration file would be a string).

An extension's functions live in the schema it was created in, which need not be
on the session's ``search_path``: ``function`` names them schema-qualified, looking
the schema up in ``pg_extension`` each time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class Extension:
    """How to recognise one extension on a server (tests use a contrib stand-in)."""

    name: str
    """Its name in ``pg_available_extensions`` and ``pg_extension``."""
    library: str
    """The entry ``shared_preload_libraries`` must hold."""
    loader_setting: str
    """A setting that exists only when the preloaded library is loaded."""
    label: str = ""
    """How messages name it (default: ``name``)."""

    @property
    def title(self) -> str:
        return self.label or self.name


TIMESCALEDB = Extension("timescaledb", "timescaledb", "timescaledb.disable_load", "TimescaleDB")


@dataclass(frozen=True, slots=True)
class Facts:
    """What the catalog says about one extension, for the connected role and database."""

    offered: str | None
    """Default version the server has files for (``pg_available_extensions``), or None."""
    schema: str | None
    """Schema it was created in, in this database (``pg_extension``), or None."""
    version: str | None
    """Created version, or None."""
    preload_setting: str | None
    """``shared_preload_libraries`` as set, or None when the role may not read it."""
    loader_loaded: bool
    """The library's own setting exists (the library was preloaded)."""
    superuser: bool
    needs_superuser: bool
    """Creating it needs a superuser (not a trusted extension)."""
    can_create: bool
    """The role has CREATE on the database (what a trusted extension needs)."""
    role: str
    database: str

    def preloaded(self, library: str) -> bool:
        """In the preload list when that is readable, else by the loader's setting."""
        if self.preload_setting is None:
            return self.loader_loaded
        return library in preload_entries(self.preload_setting)


@dataclass(frozen=True, slots=True)
class Decision:
    """Use the extension or not, whether to create it first, and why in one line."""

    use: bool
    create: bool
    reason: str
    """What was found, and why it cannot be used when it cannot."""
    line: str
    """``<extension>: <reason>: <what was chosen>``, for operators."""


_FACTS = """
SELECT
  (SELECT default_version FROM pg_available_extensions WHERE name = %(ext)s),
  (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
    WHERE e.extname = %(ext)s),
  (SELECT extversion FROM pg_extension WHERE extname = %(ext)s),
  (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'),
  EXISTS (SELECT 1 FROM pg_settings WHERE name = %(loader)s AND vartype <> 'string'),
  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
  coalesce((SELECT v.superuser AND NOT v.trusted
    FROM pg_available_extension_versions v JOIN pg_available_extensions a
      ON a.name = v.name AND a.default_version = v.version
    WHERE v.name = %(ext)s), true),
  has_database_privilege(current_database(), 'CREATE'),
  current_user, current_database()
"""


def read_facts(conn: Conn, ext: Extension = TIMESCALEDB) -> Facts:
    """Read ``ext``'s state from the catalog: one SELECT, nothing created or loaded."""
    row = conn.execute(_FACTS, {"ext": ext.name, "loader": ext.loader_setting}).fetchone()
    if row is None:  # pragma: no cover - a SELECT without FROM always returns a row
        raise RuntimeError("catalog query returned no row")
    return Facts(
        offered=row[0],
        schema=row[1],
        version=row[2],
        preload_setting=row[3],
        loader_loaded=bool(row[4]),
        superuser=bool(row[5]),
        needs_superuser=bool(row[6]),
        can_create=bool(row[7]),
        role=str(row[8]),
        database=str(row[9]),
    )


def preload_entries(setting: str) -> tuple[str, ...]:
    """Library names in a ``shared_preload_libraries`` value, without path or suffix.

    ``'timescaledb, "$libdir/pg_stat_statements.so"'`` ->
    ``("timescaledb", "pg_stat_statements")``.
    """
    names = []
    for item in setting.split(","):
        item = item.strip().strip('"').strip()
        if not item:
            continue
        base = item.rsplit("/", 1)[-1]
        names.append(base.removesuffix(".so"))
    return tuple(names)


def decide(facts: Facts, want: bool | None, ext: Extension = TIMESCALEDB) -> Decision:
    """Whether to use ``ext`` given ``facts``; ``want`` None = if usable, False = never.

    A ``want=True`` that cannot be met is returned as ``use=False``; the caller turns
    it into an error quoting ``line``.
    """
    found, problem = _found(facts, ext)
    reason = found + (problem or "")
    if want is False:
        return Decision(False, False, found, f"{ext.title}: {found}; not wanted: {PARTITIONS}")
    if problem is not None:
        return Decision(False, False, reason, f"{ext.title}: {reason}: {PARTITIONS}")
    return Decision(True, facts.schema is None, reason, f"{ext.title}: {reason}: {HYPERTABLES}")


PARTITIONS = "using native day partitions"
HYPERTABLES = "using hypertables"


def _found(f: Facts, ext: Extension) -> tuple[str, str | None]:
    """(what was found, why it cannot be used; None when it can)."""
    if f.offered is None and f.schema is None:
        return "not installed on this server", ""
    if f.schema is not None:
        where = f"{f.version} created in schema {f.schema}"
    else:
        where = f"{f.offered} installed on the server, not created in database {f.database}"
    if f.preload_setting is not None:
        listed = f"shared_preload_libraries = '{f.preload_setting}'"
    else:
        listed = f"its loader {'is' if f.loader_loaded else 'is not'} loaded"
    if not f.preloaded(ext.library):
        return f"{where}, not preloaded ({listed})", (
            f"; add {ext.library} to shared_preload_libraries and restart the server"
        )
    how = "in shared_preload_libraries" if f.preload_setting is not None else listed
    found = f"{where}, preloaded ({how})"
    if f.schema is not None or f.superuser:
        return found, None
    if f.needs_superuser:
        return found, f"; creating it needs a superuser and role {f.role} is not one"
    if not f.can_create:
        return found, f"; role {f.role} has no CREATE privilege on database {f.database}"
    return found, None


def function(conn: Conn, name: str, ext: Extension = TIMESCALEDB) -> sql.Identifier:
    """``name`` qualified by the schema ``ext`` was created in (read from ``pg_extension``).

    Raises LookupError when the extension is not created in this database.
    """
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = %s",
        (ext.name,),
    ).fetchone()
    if row is None:
        raise LookupError(f"extension {ext.name} is not created in this database")
    return sql.Identifier(str(row[0]), name)
