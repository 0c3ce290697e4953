"""The one process that owns the local chdb data, serving it as a ClickHouse HTTP endpoint.

chdb locks its data path to one process. This host owns it and answers the
subset of ClickHouse's HTTP interface that clickhouse-connect uses: the
statement in the ``query`` parameter and/or the body (an INSERT's rows
follow its ``FORMAT`` clause in the body), ``database`` and
``default_format`` parameters, ``X-ClickHouse-*`` response headers, errors
as ``Code: N. DB::Exception: ...`` with HTTP 500, and ``GET /ping``. So
workers, ``cohortstream sql`` and tests talk to it exactly as they would to
a ClickHouse server, with the production client. Other query parameters
(per-query settings, session ids) are accepted and not applied. Uncompressed
HTTP only: clients connect with compression off.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

from aiohttp import web

from cohortstream.sinks.chdb_backend import ChdbWarehouse
from cohortstream.sinks.warehouse import WarehouseError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ERROR_CODE = re.compile(r"Code: (\d+)")
DEFAULT_FORMAT = "TabSeparated"


def statement_of(query_param: str, body: bytes) -> str:
    """ClickHouse joins the URL's query and the body with a newline (INSERT data follows)."""
    text = body.decode("utf-8") if body else ""
    if query_param and text:
        return f"{query_param}\n{text}"
    return query_param or text


def build_app(warehouse: ChdbWarehouse) -> web.Application:
    lock = asyncio.Lock()  # one chdb session: one statement at a time (and its USE)

    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def execute(request: web.Request) -> web.Response:
        params = request.query
        sql = statement_of(params.get("query", ""), await request.read())
        fmt = params.get("default_format", DEFAULT_FORMAT)
        database = params.get("database", warehouse.database)
        if not sql.strip():
            return _error(400, 62, "Empty query")
        if not _IDENTIFIER.match(fmt) or not _IDENTIFIER.match(database):
            return _error(400, 1, f"bad format or database name: {fmt!r}, {database!r}")
        try:
            async with lock:
                output = await asyncio.to_thread(warehouse.run_in, database, sql, fmt)
        except WarehouseError as exc:
            message = str(exc)
            match = _ERROR_CODE.search(message)
            return _error(500, int(match.group(1)) if match else 1, message)
        return web.Response(
            body=output,
            headers={
                "X-ClickHouse-Format": fmt,
                "X-ClickHouse-Timezone": "UTC",
                "X-ClickHouse-Server-Display-Name": "cohortstream-chdb-host",
                "X-ClickHouse-Summary": "{}",
            },
        )

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_get("/ping", ping)
    app.router.add_route("GET", "/", execute)
    app.router.add_route("POST", "/", execute)
    return app


def _error(status: int, code: int, message: str) -> web.Response:
    text = message if message.startswith("Code:") else f"Code: {code}. DB::Exception: {message}"
    return web.Response(
        status=status, text=text, headers={"X-ClickHouse-Exception-Code": str(code)}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--database", default="cohortstream")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    warehouse = ChdbWarehouse(args.path, args.database)
    web.run_app(build_app(warehouse), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
