"""Versioned migrations: ``migrations/<clickhouse|postgres>/NNNN_name.sql``, applied in order.

ClickHouse has no transactions, so its statements are written to be
idempotent (``IF NOT EXISTS``) and workers starting together may both run
one. PostgreSQL migrations run in a transaction under an advisory lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from cohortstream.sinks.warehouse import Warehouse, encode_rows

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
) ENGINE = ReplacingMergeTree ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


CLICKHOUSE = "cohortstream.sinks.migrations.clickhouse"
POSTGRES = "cohortstream.sinks.migrations.postgres"
# pg_advisory_xact_lock key: serialises workers migrating one database.
POSTGRES_LOCK_KEY = 0x636F686F7274


def load_migrations(package: str = CLICKHOUSE) -> list[Migration]:
    """The packaged migrations, by version; a gap or duplicate version is a packaging bug."""
    folder = resources.files(package)
    migrations = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            sql = entry.read_text(encoding="utf-8")
            statements = tuple(s.strip() for s in _strip_comments(sql).split(";") if s.strip())
            migrations.append(Migration(int(match.group(1)), match.group(2), statements))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{package} migrations must be numbered 1..n, found {versions}")
    return migrations


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


async def migrate(warehouse: Warehouse) -> list[int]:
    """Apply the migrations not yet recorded; returns the versions applied now."""
    await warehouse.execute(LEDGER_DDL)
    done = {
        int(row["version"])
        for row in await warehouse.query_rows("SELECT version FROM schema_migrations")
    }
    applied = []
    for migration in load_migrations():
        if migration.version in done:
            continue
        for statement in migration.statements:
            await warehouse.execute(statement)
        await warehouse.insert_json_rows(
            "schema_migrations",
            encode_rows([{"version": migration.version, "name": migration.name}]),
        )
        applied.append(migration.version)
    return applied


POSTGRES_LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


async def migrate_postgres(connection: Any) -> list[int]:
    """Apply PostgreSQL migrations not yet recorded, each in its own transaction."""
    applied = []
    for migration in load_migrations(POSTGRES):
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", POSTGRES_LOCK_KEY)
            await connection.execute(POSTGRES_LEDGER_DDL)
            done = await connection.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            )
            if done:
                continue
            for statement in migration.statements:
                await connection.execute(statement)
            await connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
            applied.append(migration.version)
    return applied


async def connect_migrated(database_url: str) -> Any:
    """An asyncpg connection to a PostgreSQL that has every migration applied
    (the CLI's way in: it may run before any worker has migrated)."""
    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        await migrate_postgres(connection)
    except BaseException:
        await connection.close()
        raise
    return connection
