"""Benchmarks: tools run from the repository's root as `python -m benchmarks.NAME` (see docs/benchmarks.md)."""
