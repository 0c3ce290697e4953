"""The one process that owns the local chdb data and serves it over loopback HTTP.

chdb locks its data path to one process; workers, ``cohortstream sql`` and
tests all reach it through this small server. Routes:
``POST /query?format=F`` (body: SQL), ``POST /insert?table=T`` (body:
JSONEachRow), ``GET /ping``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from pathlib import Path

from aiohttp import web

from cohortstream.sinks.chdb_backend import ChdbWarehouse
from cohortstream.sinks.warehouse import WarehouseError

_FORMAT = re.compile(r"^[A-Za-z]+$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def build_app(warehouse: ChdbWarehouse) -> web.Application:
    async def ping(_: web.Request) -> web.Response:
        return web.Response(text=f"ok {warehouse.path}")

    async def query(request: web.Request) -> web.Response:
        fmt = request.query.get("format", "JSONEachRow")
        if not _FORMAT.match(fmt):
            return web.Response(status=400, text=f"bad format {fmt!r}")
        sql = (await request.read()).decode("utf-8")
        try:
            output = await asyncio.to_thread(warehouse.run_sync, sql, fmt)
        except WarehouseError as exc:
            return web.Response(status=400, text=str(exc))
        return web.Response(body=output)

    async def insert(request: web.Request) -> web.Response:
        table = request.query.get("table", "")
        if not _TABLE.match(table):
            return web.Response(status=400, text=f"bad table name {table!r}")
        body = await request.read()
        try:
            await warehouse.insert_json_rows(table, body)
        except WarehouseError as exc:
            return web.Response(status=400, text=str(exc))
        return web.Response(text="ok")

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_get("/ping", ping)
    app.router.add_post("/query", query)
    app.router.add_post("/insert", insert)
    return app


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
