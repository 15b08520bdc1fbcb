"""Benchmarks of the whole system, run with `make bench`."""
