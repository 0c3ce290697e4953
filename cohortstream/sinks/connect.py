"""Pick the Warehouse backend that ``CLICKHOUSE_URL`` names."""

from __future__ import annotations

from pathlib import Path

from cohortstream.settings import Settings, read_stack_file
from cohortstream.sinks.warehouse import Warehouse


def chdb_path_of(url: str) -> Path:
    """``chdb:///abs/path`` -> ``/abs/path``."""
    return Path(url.removeprefix("chdb://")).resolve()


def open_warehouse(settings: Settings) -> Warehouse:
    """A server URL gets clickhouse-connect; a chdb path gets the process that owns it.

    When the local stack's chdb host serves that path, every process talks to
    it over ClickHouse's HTTP interface, with the same client as production;
    otherwise this process opens the data itself (single-process use).
    """
    url = settings.clickhouse_url
    if url.startswith(("http://", "https://")):
        from cohortstream.sinks.clickhouse_server import ClickHouseServerWarehouse

        return ClickHouseServerWarehouse(url, settings.clickhouse_database)

    path = chdb_path_of(url)
    host = read_stack_file(settings.state_dir).get("chdb_host", {})
    if host and Path(host["path"]).resolve() == path:
        from cohortstream.sinks.clickhouse_server import ClickHouseServerWarehouse

        return ClickHouseServerWarehouse(host["url"], settings.clickhouse_database, compress=False)

    from cohortstream.sinks.chdb_backend import ChdbWarehouse

    return ChdbWarehouse(path, settings.clickhouse_database)
