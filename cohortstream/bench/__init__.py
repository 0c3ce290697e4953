"""Benchmarks: throughput of the pipeline against the broker's ceiling, on a fresh local stack."""
