"""Benchmarks: run all with `python -m bench`, or one with `python -m bench.bench_<name>`."""
