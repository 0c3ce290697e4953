"""Where definitions are kept: PostgreSQL in production, a dict in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cohortstream.definitions.tracker import PendingDefinition

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class DefinitionsStore(Protocol):
    async def upsert(self, batch: list[PendingDefinition]) -> set[tuple[int, str]]:
        """Write the batch in one transaction; returns (project_id, kind) of new definitions."""


def _at(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


_UPSERT = {
    "event": """
        INSERT INTO event_definitions AS d (project_id, name, first_seen_at, last_seen_at, volume)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                             $5::bigint[])
        ON CONFLICT (project_id, name) DO UPDATE SET
            first_seen_at = least(d.first_seen_at, excluded.first_seen_at),
            last_seen_at = greatest(d.last_seen_at, excluded.last_seen_at),
            volume = d.volume + excluded.volume
        RETURNING project_id, (xmax = 0) AS inserted""",
    "property": """
        INSERT INTO property_definitions AS d
            (project_id, name, property_type, first_seen_at, last_seen_at, volume)
        SELECT * FROM unnest($1::bigint[], $2::text[], $6::text[], $3::timestamptz[],
                             $4::timestamptz[], $5::bigint[])
        ON CONFLICT (project_id, name) DO UPDATE SET
            property_type = coalesce(d.property_type, excluded.property_type),
            first_seen_at = least(d.first_seen_at, excluded.first_seen_at),
            last_seen_at = greatest(d.last_seen_at, excluded.last_seen_at),
            volume = d.volume + excluded.volume
        RETURNING project_id, (xmax = 0) AS inserted""",
}


class PostgresDefinitionsStore:
    """One multi-row upsert per kind and batch (``unnest`` of arrays), in one transaction."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def upsert(self, batch: list[PendingDefinition]) -> set[tuple[int, str]]:
        new: set[tuple[int, str]] = set()
        async with self.pool.acquire() as connection, connection.transaction():
            for kind, sql in _UPSERT.items():
                rows = sorted(
                    (d for d in batch if d.kind == kind), key=lambda d: (d.project_id, d.name)
                )  # stable lock order
                if not rows:
                    continue
                args: list[list[Any]] = [
                    [d.project_id for d in rows],
                    [d.name for d in rows],
                    [_at(d.first_seen_us) for d in rows],
                    [_at(d.last_seen_us) for d in rows],
                    [d.volume for d in rows],
                ]
                if kind == "property":
                    args.append([d.property_type for d in rows])
                for record in await connection.fetch(sql, *args):
                    if record["inserted"]:
                        new.add((int(record["project_id"]), kind))
        return new


class MemoryDefinitionsStore:
    """Same merge rules as the SQL, in a dict; ``failures_to_inject`` for retry tests."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, str, str], PendingDefinition] = {}
        self.failures_to_inject = 0

    async def upsert(self, batch: list[PendingDefinition]) -> set[tuple[int, str]]:
        if self.failures_to_inject:
            self.failures_to_inject -= 1
            raise ConnectionError("injected PostgreSQL failure")
        new = set()
        for d in batch:
            key = (d.project_id, d.kind, d.name)
            old = self.rows.get(key)
            if old is None:
                self.rows[key] = d
                new.add((d.project_id, d.kind))
            else:
                self.rows[key] = PendingDefinition(
                    d.project_id,
                    d.kind,
                    d.name,
                    old.property_type or d.property_type,
                    min(old.first_seen_us, d.first_seen_us),
                    max(old.last_seen_us, d.last_seen_us),
                    old.volume + d.volume,
                )
        return new
