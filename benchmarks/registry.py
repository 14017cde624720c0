"""Registry stores: time per operation for the in-memory variants and PostgreSQL.

save, get, get_by_name (10 pods of a name) and get_all on a registry of 100
pods (10 services x 10 pods), for LocalRegistry and ThreadSafeRegistry (ns per
op), beside a plain dict doing the same work in the same run (the baseline),
and for PostgresRegistry (µs per op: one round trip each, on a throwaway local
cluster; skipped with a note when no PostgreSQL can be started). Each figure is
the best of 5 timed rounds, so a descheduled round does not count.

Run: ``python -m benchmarks.registry [--quick]``; writes
``benchmarks/results/registry.json``.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

from benchmarks.report import report
from infertrace.registry import LocalRegistry, ServiceInfo, ThreadSafeRegistry
from infertrace.registry.factory import open_registry
from infertrace.telemetry.postgres.cluster import ClusterError, ThrowawayCluster

TARGETS = {
    ("LocalRegistry", "save"): "<= 1,000",
    ("LocalRegistry", "get"): "<= 1,000",
    ("ThreadSafeRegistry", "save"): "<= 2,000",
    ("ThreadSafeRegistry", "get"): "<= 2,000",
}
"""Issue 12's targets (ns per op); the seed's Go table: save ~100/150, get ~80/120,
get-all ~500/800 ns (single-owner / locked)."""


def _pods() -> list[ServiceInfo]:
    return [
        ServiceInfo(f"svc{s}", f"pod{p}", address=f"10.0.{s}.{p}", port=8000,
                    providers=frozenset({f"model-{s}"}), registered_at=1, last_seen=1)
        for s in range(10) for p in range(10)
    ]  # fmt: skip


def _ns_per_op(loop: Callable[[int], None], ops_per_call: int, calls: int) -> float:
    """Best of 5 rounds of ``loop(calls)``, in ns per op."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            t = time.perf_counter_ns()
            loop(calls)
            best = min(best, (time.perf_counter_ns() - t) / (calls * ops_per_call))
    finally:
        gc.enable()
    return best


def _variant(store: Any, pods: list[ServiceInfo], calls: int) -> dict[str, float]:
    keys = [p.key for p in pods]
    names = [f"svc{s}" for s in range(10)]
    save, get = store.save_service, store.get_service
    by_name, get_all = store.get_services_by_name, store.get_all_services

    def saves(n: int) -> None:
        for _ in range(n):
            for p in pods:
                save(p)

    def gets(n: int) -> None:
        for _ in range(n):
            for k in keys:
                get(k)

    def by_names(n: int) -> None:
        for _ in range(n):
            for name in names:
                by_name(name)

    def alls(n: int) -> None:
        for _ in range(n):
            get_all()

    return {
        "save": _ns_per_op(saves, len(pods), calls),
        "get": _ns_per_op(gets, len(keys), calls),
        "get_by_name": _ns_per_op(by_names, len(names), calls),
        "get_all": _ns_per_op(alls, 1, calls * 10),
    }


def _baseline(pods: list[ServiceInfo], calls: int) -> dict[str, float]:
    """A bare dict keyed like the registry, no validation, no lock, no index."""
    table: dict[str, ServiceInfo] = {}
    keys = [p.key for p in pods]
    pairs = list(zip(keys, pods, strict=True))
    by_name = {f"svc{s}": keys[s * 10 : s * 10 + 10] for s in range(10)}

    def saves(n: int) -> None:
        for _ in range(n):
            for k, p in pairs:
                table[k] = p

    saves(1)

    def gets(n: int) -> None:
        for _ in range(n):
            for k in keys:
                table[k]

    def by_names(n: int) -> None:
        for _ in range(n):
            for ks in by_name.values():
                [table[k] for k in ks]

    def alls(n: int) -> None:
        for _ in range(n):
            list(table.values())

    return {
        "save": _ns_per_op(saves, len(pods), calls),
        "get": _ns_per_op(gets, len(keys), calls),
        "get_by_name": _ns_per_op(by_names, len(by_name), calls),
        "get_all": _ns_per_op(alls, 1, calls * 10),
    }


def run(calls: int) -> list[dict[str, Any]]:
    pods = _pods()
    base = _baseline(pods, calls)
    rows: list[dict[str, Any]] = []
    for store in (LocalRegistry(), ThreadSafeRegistry()):
        variant = type(store).__name__
        figures = _variant(store, pods, calls)
        assert len(store.get_all_services()) == 100
        for op, value in figures.items():
            label = f"{op} (100 pods)" if op == "get_all" else op
            target = TARGETS.get((variant, op), "")
            rows.append({"metric": f"{variant} {label}", "value": value, "unit": "ns/op",
                         "target": target, "baseline": base[op]})  # fmt: skip
        store.close()
    return rows + _postgres_rows(pods, max(1, calls // 400))


def _postgres_rows(pods: list[ServiceInfo], calls: int) -> list[dict[str, Any]]:
    """PostgresRegistry rows in µs per op, or [] (with a note) without PostgreSQL."""
    try:
        cluster = ThrowawayCluster()
        cluster.start()
    except (ClusterError, OSError) as exc:
        print(f"PostgresRegistry rows skipped: no PostgreSQL server could be started ({exc})")
        return []
    try:
        store = open_registry("postgres", cluster.dsn)
        try:
            figures = _variant(store, pods, calls)
            assert len(store.get_all_services()) == 100
        finally:
            store.close()
    finally:
        cluster.destroy()
    return [
        {"metric": f"PostgresRegistry {f'{op} (100 pods)' if op == 'get_all' else op}",
         "value": value / 1000, "unit": "µs/op", "target": "", "baseline": None}
        for op, value in figures.items()
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="benchmarks.registry")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    calls = 200 if args.quick else 2_000
    title = "Registry stores: ns (memory) or µs (PostgreSQL) per op; 100 pods; baseline: a dict"
    report("registry", title, run(calls))


if __name__ == "__main__":
    main()
