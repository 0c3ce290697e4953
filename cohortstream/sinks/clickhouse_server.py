"""A ClickHouse server through clickhouse-connect: the production backend."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlparse

from cohortstream.sinks.warehouse import WarehouseError, decode_rows


class ClickHouseServerWarehouse:
    """Warehouse on ``http(s)://user:password@host:port``; inserts stay JSONEachRow.

    ``?compress=0`` in the URL (or ``compress=False``) turns HTTP compression
    off, as the local chdb host requires.
    """

    # clickhouse-connect waits 300 s for an answer by default: a hung request would
    # hold a sink (and its partitions' offsets) that long before the retries start.
    REQUEST_TIMEOUT_S = 60

    def __init__(self, url: str, database: str, compress: bool | None = None) -> None:
        import clickhouse_connect

        parsed = urlparse(url)
        self.database = database
        if compress is None:
            compress = parse_qs(parsed.query).get("compress", ["1"])[0] not in ("0", "false")

        def connect(**extra: Any) -> Any:
            return clickhouse_connect.get_client(
                host=parsed.hostname or "localhost",
                port=parsed.port or (8443 if parsed.scheme == "https" else 8123),
                username=parsed.username or "default",
                password=parsed.password or "",
                secure=parsed.scheme == "https",
                compress=compress,
                send_receive_timeout=self.REQUEST_TIMEOUT_S,
                **extra,
            )

        try:
            admin = connect()
            admin.command(f"CREATE DATABASE IF NOT EXISTS {database}")
            admin.close()
            self._client = connect(database=database)
        except Exception as exc:
            raise WarehouseError(f"cannot reach ClickHouse at {parsed.hostname}: {exc}") from exc
        self._lock = asyncio.Lock()  # one HTTP session: serialise requests

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, *args, **kwargs)
            except Exception as exc:
                raise WarehouseError(str(exc)) from exc

    async def execute(self, sql: str) -> None:
        await self._call(self._client.command, sql)

    async def insert_json_rows(self, table: str, body: bytes) -> None:
        await self._call(self._client.raw_insert, table, None, body, fmt="JSONEachRow")

    async def query_rows(self, sql: str) -> list[dict[str, Any]]:
        return decode_rows(await self._call(self._client.raw_query, sql, fmt="JSONEachRow"))

    async def close(self) -> None:
        self._client.close()
