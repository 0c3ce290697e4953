"""Warehouse reached through the process that owns the chdb data (the chdb host)."""

from __future__ import annotations

from typing import Any

import aiohttp

from cohortstream.sinks.warehouse import WarehouseError, decode_rows


class ChdbHostWarehouse:
    """HTTP client of ``cohortstream.localstack.chdb_host``."""

    def __init__(self, base_url: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _post(self, path: str, body: bytes, params: dict[str, str]) -> bytes:
        try:
            async with self._client().post(
                f"{self.base_url}{path}", data=body, params=params
            ) as response:
                payload = await response.read()
                if response.status != 200:
                    raise WarehouseError(payload.decode("utf-8", "replace"))
                return payload
        except aiohttp.ClientError as exc:
            raise WarehouseError(f"chdb host at {self.base_url} unreachable: {exc}") from exc

    async def execute(self, sql: str) -> None:
        await self._post("/query", sql.encode(), {"format": "CSV"})

    async def insert_json_rows(self, table: str, body: bytes) -> None:
        await self._post("/insert", body, {"table": table})

    async def query_rows(self, sql: str) -> list[dict[str, Any]]:
        return decode_rows(await self._post("/query", sql.encode(), {"format": "JSONEachRow"}))

    async def query_raw(self, sql: str, fmt: str) -> bytes:
        """The query's output in any ClickHouse format (for ``cohortstream sql``)."""
        return await self._post("/query", sql.encode(), {"format": fmt})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
