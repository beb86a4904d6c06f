"""Benchmarks (`make bench`): run by hand or by make, never collected by pytest (no test_*.py files here)."""
