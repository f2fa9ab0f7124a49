"""Helpers for the tests and the benchmark: nothing the server itself imports."""
