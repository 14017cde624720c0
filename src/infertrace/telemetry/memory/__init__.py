"""The in-memory backend: columnar ring buffers with indexes."""

from infertrace.telemetry.memory.store import MemoryStore

__all__ = ["MemoryStore"]
