"""Locust load tests (`make load`); never collected by pytest (no test_*.py files here)."""
