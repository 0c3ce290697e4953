"""PostgreSQL for the worker: one pool, migrated on open, shared by every user."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as redis

from cohortstream.assignment.store import assigned_positions, load_rules, write_assignments
from cohortstream.cohorts.definition import CohortDefinition
from cohortstream.cohorts.store import load_definitions
from cohortstream.projects.identity_rules import IdentityRules, load_identity_rules
from cohortstream.projects.registry import load_project_ids
from cohortstream.settings import Settings
from cohortstream.sinks.definitions_sink import CacheInvalidator, RedisInvalidator
from cohortstream.sinks.definitions_store import DefinitionsStore, PostgresDefinitionsStore
from cohortstream.sinks.migrate import migrate_postgres
from cohortstream.sinks.person_store import PersonStore, PostgresPersonStore

log = logging.getLogger(__name__)


async def open_pool(database_url: str) -> Any:
    """A small asyncpg pool with the PostgreSQL migrations applied."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    async with pool.acquire() as connection:
        applied = await migrate_postgres(connection)
    if applied:
        log.info("applied PostgreSQL migrations %s", applied)
    return pool


class PostgresConnections:
    """The worker's pool, opened on first use and closed once at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def pool(self) -> Any:
        async with self._lock:
            if self._pool is None:
                self._pool = await open_pool(self.settings.database_url)
            return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def project_ids(self) -> frozenset[int]:
        async with (await self.pool()).acquire() as connection:
            return await load_project_ids(connection)

    async def identity_rules(self) -> IdentityRules:
        async with (await self.pool()).acquire() as connection:
            return await load_identity_rules(connection)

    async def definitions(
        self,
    ) -> tuple[DefinitionsStore, CacheInvalidator, Callable[[], Awaitable[None]]]:
        """The production definitions store (PostgreSQL) and cache invalidator (Redis)."""
        client = redis.from_url(self.settings.redis_url)
        return PostgresDefinitionsStore(await self.pool()), RedisInvalidator(client), client.aclose

    async def person_store(self) -> PersonStore:
        return PostgresPersonStore(await self.pool())

    async def assignment_rules(self) -> dict[str, Any]:
        async with (await self.pool()).acquire() as connection:
            return await load_rules(connection)

    async def write_assignments(self, rows: list[dict[str, Any]]) -> None:
        async with (await self.pool()).acquire() as connection:
            await write_assignments(connection, rows)

    async def assigned_positions(self, keys: list[str]) -> dict[str, int]:
        async with (await self.pool()).acquire() as connection:
            return await assigned_positions(connection, keys)

    async def cohort_definitions(self) -> list[CohortDefinition]:
        async with (await self.pool()).acquire() as connection:
            return await load_definitions(connection)
