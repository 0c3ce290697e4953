"""Versioned ClickHouse migrations: ``migrations/clickhouse/NNNN_name.sql``, applied in order.

Every statement is written to be idempotent (``IF NOT EXISTS``), so workers
starting together may both run a migration without harm.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

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


def load_migrations() -> list[Migration]:
    """The packaged migrations, by version; a gap or duplicate version is a packaging bug."""
    folder = resources.files("cohortstream.sinks.migrations.clickhouse")
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
        raise RuntimeError(f"ClickHouse migrations must be numbered 1..n, found {versions}")
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
