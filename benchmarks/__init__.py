"""Benchmarks and evidence runs: each module runs as ``python -m benchmarks.<name>`` from the repository root."""
