"""The benchmark harness: `make bench` (python -m bench) prints one table of medians."""
