"""Benchmarks (DESIGN §8): run with `make bench` or `python -m bench`; prints a table."""
