"""Sinks: batched, idempotent writes of stream output to ClickHouse."""
