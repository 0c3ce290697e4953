"""PostgreSQL connections for the sinks: a pool, migrated on open."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as redis

from cohortstream.settings import Settings
from cohortstream.sinks.definitions_sink import CacheInvalidator, RedisInvalidator
from cohortstream.sinks.definitions_store import DefinitionsStore, PostgresDefinitionsStore
from cohortstream.sinks.migrate import migrate_postgres

log = logging.getLogger(__name__)


async def open_pool(database_url: str) -> Any:
    """A small asyncpg pool with the PostgreSQL migrations applied."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    async with pool.acquire() as connection:
        applied = await migrate_postgres(connection)
    if applied:
        log.info("applied PostgreSQL migrations %s", applied)
    return pool


async def open_definitions(
    settings: Settings,
) -> tuple[DefinitionsStore, CacheInvalidator, Callable[[], Awaitable[None]]]:
    """The production definitions store (PostgreSQL) and cache invalidator (Redis)."""
    pool = await open_pool(settings.database_url)
    client = redis.from_url(settings.redis_url)

    async def close() -> None:
        await pool.close()
        await client.aclose()

    return PostgresDefinitionsStore(pool), RedisInvalidator(client), close
