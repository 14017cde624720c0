"""Runnable benchmarks: ``python -m benchmarks [--quick] [name ...]``."""
