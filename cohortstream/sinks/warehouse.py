"""The ClickHouse interface every sink writes through, and its in-memory twin for tests."""

from __future__ import annotations

import re
from typing import Any, Protocol

import orjson


class WarehouseError(RuntimeError):
    """A ClickHouse statement failed; the message carries the server's text."""


class Warehouse(Protocol):
    """What sinks and the CLI need from ClickHouse, whichever backend serves it.

    Rows travel as JSONEachRow bytes: one encoding that chdb, the chdb host
    and a ClickHouse server all accept without per-value conversion.
    """

    async def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL)."""

    async def insert_json_rows(self, table: str, body: bytes) -> None:
        """Insert newline-separated JSON objects; raises WarehouseError on failure."""

    async def query_rows(self, sql: str) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts."""

    async def close(self) -> None:
        """Release connections."""


def encode_rows(rows: list[dict[str, Any]]) -> bytes:
    """JSONEachRow body for ``rows``."""
    return b"\n".join(orjson.dumps(row) for row in rows)


def decode_rows(body: bytes) -> list[dict[str, Any]]:
    """Rows of a JSONEachRow response."""
    return [orjson.loads(line) for line in body.splitlines() if line.strip()]


class MemoryWarehouse:
    """Keeps inserted rows per table; fails on demand, to test retries."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.statements: list[str] = []
        self.inserts: list[tuple[str, int]] = []  # (table, rows) per insert call
        self.failures_to_inject = 0

    async def execute(self, sql: str) -> None:
        self.statements.append(sql)

    async def insert_json_rows(self, table: str, body: bytes) -> None:
        if self.failures_to_inject > 0:
            self.failures_to_inject -= 1
            raise WarehouseError("injected failure")
        rows = decode_rows(body)
        self.inserts.append((table, len(rows)))
        self.rows.setdefault(table, []).extend(rows)

    async def query_rows(self, sql: str) -> list[dict[str, Any]]:
        """Every row of the table named after FROM (no SQL engine here: filters are ignored)."""
        match = re.search(r"\bFROM\s+([A-Za-z_][A-Za-z0-9_.]*)", sql, re.IGNORECASE)
        if match is None:
            raise WarehouseError(f"MemoryWarehouse cannot run {sql!r}")
        return list(self.rows.get(match.group(1), []))

    async def close(self) -> None:
        return None
