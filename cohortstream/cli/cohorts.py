"""`cohortstream cohorts ...`: definitions to and from PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from cohortstream.cohorts.store import (
    LIVE,
    apply_definitions,
    delete_definition,
    load_definitions,
    stored_cohorts,
)
from cohortstream.sinks.migrate import connect_migrated


async def apply_file(
    database_url: str, raw: Any, backfill_from: datetime | None = None
) -> list[str]:
    """Apply one definition or a list of them (parsed JSON); raises DefinitionError."""
    items = raw if isinstance(raw, list) else [raw]
    connection = await connect_migrated(database_url)
    try:
        return await apply_definitions(connection, items, backfill_from)
    finally:
        await connection.close()


async def list_cohorts(database_url: str) -> list[dict[str, Any]]:
    connection = await connect_migrated(database_url)
    try:
        definitions = await load_definitions(connection)
    finally:
        await connection.close()
    return [
        {"project_id": d.project_id, "id": d.id, "name": d.name, "kind": d.kind}
        for d in sorted(definitions, key=lambda d: (d.project_id, d.id))
    ]


async def delete_cohort(database_url: str, project_id: int, cohort_id: str) -> None:
    connection = await connect_migrated(database_url)
    try:
        await delete_definition(connection, project_id, cohort_id)
    finally:
        await connection.close()


async def wait_until_live(
    database_url: str, project_id: int, cohort_ids: list[str], timeout_s: float
) -> bool:
    """Whether every cohort named finished its backfill (a worker runs it) in time."""
    connection = await connect_migrated(database_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stored = await stored_cohorts(connection, project_id)
            status = {item["definition"]["id"]: item["status"] for item in stored}
            if all(status.get(c) == LIVE for c in cohort_ids):
                return True
            await asyncio.sleep(0.25)
        return False
    finally:
        await connection.close()
