"""Persons and distinct_ids in PostgreSQL: batch writes and cold-start lookups.

Writes go in one transaction per batch (so a merge's re-pointed distinct_ids
and its winner land together), as multi-row statements over ``unnest`` of
arrays. Every row carries a version and only a higher one replaces it, so
redelivered or reordered batches change nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
import orjson

from cohortstream.tables.person_state import SET, PersonState, Stamp, new_person

Row = dict[str, Any]
DEADLOCK_ATTEMPTS = 5
IdentityKey = tuple[int, str]


class PersonStore(Protocol):
    async def write(self, persons: list[Row], distinct_ids: list[Row]) -> None:
        """Apply ``persons`` and ``distinct_ids`` rows (as the person stage emits them)."""

    async def distinct_id_persons(
        self, keys: list[IdentityKey]
    ) -> dict[IdentityKey, tuple[str, int]]:
        """(project_id, distinct_id) -> (person_id, version) for those known."""

    async def persons(self, keys: list[IdentityKey]) -> dict[IdentityKey, PersonState]:
        """(project_id, person_id) -> the stored person, for those known."""


def newest(rows: Iterable[Row], *key_fields: str) -> list[Row]:
    """One row per key, the highest version (a batch may carry several)."""
    kept: dict[tuple[Any, ...], Row] = {}
    for row in rows:
        key = tuple(row[f] for f in key_fields)
        if key not in kept or kept[key]["version"] <= row["version"]:
            kept[key] = row
    return [kept[k] for k in sorted(kept)]  # a stable order takes row locks without deadlocks


def _at(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def _micros(instant: datetime) -> int:
    return int(instant.timestamp() * 1_000_000)


_UPSERT_PERSONS = """
INSERT INTO persons (project_id, id, properties, is_identified, created_at, version,
    property_stamps)
SELECT r.project_id, r.id, r.properties::jsonb, r.is_identified, r.created_at, r.version,
    r.property_stamps::jsonb
FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::boolean[], $5::timestamptz[], $6::bigint[],
    $7::text[])
    AS r(project_id, id, properties, is_identified, created_at, version, property_stamps)
WHERE NOT EXISTS (
    SELECT 1 FROM deleted_persons d
    WHERE d.project_id = r.project_id AND d.id = r.id AND d.version >= r.version)
ON CONFLICT (project_id, id) DO UPDATE SET
    properties = excluded.properties,
    is_identified = excluded.is_identified,
    created_at = excluded.created_at,
    version = excluded.version,
    property_stamps = excluded.property_stamps
WHERE persons.version < excluded.version
"""

_DELETE_PERSONS = """
WITH gone AS (
    INSERT INTO deleted_persons (project_id, id, version)
    SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::bigint[])
    ON CONFLICT (project_id, id) DO UPDATE SET
        version = greatest(deleted_persons.version, excluded.version)
    RETURNING project_id, id, version)
DELETE FROM persons p USING gone
WHERE p.project_id = gone.project_id AND p.id = gone.id AND p.version < gone.version
"""

_UPSERT_DISTINCT_IDS = """
INSERT INTO person_distinct_ids (project_id, distinct_id, person_id, version)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::uuid[], $4::bigint[])
ON CONFLICT (project_id, distinct_id) DO UPDATE SET
    person_id = excluded.person_id,
    version = excluded.version
WHERE person_distinct_ids.version < excluded.version
"""

_DELETE_DISTINCT_IDS = """
DELETE FROM person_distinct_ids p
USING unnest($1::bigint[], $2::text[], $3::bigint[]) AS d(project_id, distinct_id, version)
WHERE p.project_id = d.project_id AND p.distinct_id = d.distinct_id AND p.version < d.version
"""


class PostgresPersonStore:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def write(self, persons: list[Row], distinct_ids: list[Row]) -> None:
        # Two workers' batches may touch one row from both sides (a merge deletes
        # here what it upserts there): PostgreSQL breaks the deadlock, we go again.
        for attempt in range(DEADLOCK_ATTEMPTS):
            try:
                await self._write(persons, distinct_ids)
                return
            except asyncpg.DeadlockDetectedError:
                if attempt == DEADLOCK_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))

    async def _write(self, persons: list[Row], distinct_ids: list[Row]) -> None:
        persons = newest(persons, "project_id", "id")
        distinct_ids = newest(distinct_ids, "project_id", "distinct_id")
        live = [p for p in persons if not p["is_deleted"]]
        gone = [p for p in persons if p["is_deleted"]]
        linked = [d for d in distinct_ids if not d["is_deleted"]]
        unlinked = [d for d in distinct_ids if d["is_deleted"]]
        async with self.pool.acquire() as connection, connection.transaction():
            if gone:
                await connection.execute(
                    _DELETE_PERSONS,
                    [p["project_id"] for p in gone],
                    [p["id"] for p in gone],
                    [p["version"] for p in gone],
                )
            if live:
                await connection.execute(
                    _UPSERT_PERSONS,
                    [p["project_id"] for p in live],
                    [p["id"] for p in live],
                    [orjson.dumps(p["properties"]).decode() for p in live],
                    [p["is_identified"] for p in live],
                    [_at(p["created_at_us"]) for p in live],
                    [p["version"] for p in live],
                    [orjson.dumps(p.get("set_at", {})).decode() for p in live],
                )
            if unlinked:
                await connection.execute(
                    _DELETE_DISTINCT_IDS,
                    [d["project_id"] for d in unlinked],
                    [d["distinct_id"] for d in unlinked],
                    [d["version"] for d in unlinked],
                )
            if linked:
                await connection.execute(
                    _UPSERT_DISTINCT_IDS,
                    [d["project_id"] for d in linked],
                    [d["distinct_id"] for d in linked],
                    [d["person_id"] for d in linked],
                    [d["version"] for d in linked],
                )

    async def distinct_id_persons(
        self, keys: list[IdentityKey]
    ) -> dict[IdentityKey, tuple[str, int]]:
        if not keys:
            return {}
        async with self.pool.acquire() as connection:
            records = await connection.fetch(
                """SELECT d.project_id, d.distinct_id, d.person_id::text AS person_id, d.version
                FROM person_distinct_ids d
                JOIN unnest($1::bigint[], $2::text[]) AS k(project_id, distinct_id)
                  ON d.project_id = k.project_id AND d.distinct_id = k.distinct_id""",
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
        return {
            (r["project_id"], r["distinct_id"]): (r["person_id"], r["version"]) for r in records
        }

    async def persons(self, keys: list[IdentityKey]) -> dict[IdentityKey, PersonState]:
        if not keys:
            return {}
        async with self.pool.acquire() as connection:
            records = await connection.fetch(
                """SELECT p.project_id, p.id::text AS id, p.properties::text AS properties,
                       p.is_identified, p.created_at, p.version,
                       p.property_stamps::text AS property_stamps,
                       coalesce(jsonb_object_agg(d.distinct_id, d.version)
                                FILTER (WHERE d.distinct_id IS NOT NULL), '{}')::text AS dids
                FROM persons p
                JOIN unnest($1::bigint[], $2::uuid[]) AS k(project_id, id)
                  ON p.project_id = k.project_id AND p.id = k.id
                LEFT JOIN person_distinct_ids d
                  ON d.project_id = p.project_id AND d.person_id = p.id
                GROUP BY p.project_id, p.id""",
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
        found: dict[IdentityKey, PersonState] = {}
        for r in records:
            state = stored_person(
                r["project_id"],
                r["id"],
                orjson.loads(r["properties"]),
                r["is_identified"],
                _micros(r["created_at"]),
                r["version"],
                orjson.loads(r["dids"]),
                orjson.loads(r["property_stamps"]) if r["property_stamps"] else None,
            )
            found[(r["project_id"], r["id"])] = state
        return found


def stored_person(
    project_id: int,
    person_id: str,
    properties: dict[str, Any],
    is_identified: bool,
    created_at_us: int,
    version: int,
    distinct_ids: dict[str, int],
    stamps: dict[str, Stamp] | None = None,
) -> PersonState:
    """A person read back from a store, with the stamps its writes were stored with;
    a value stored without one counts as set before any new event."""
    state = new_person(project_id, person_id, created_at_us)
    state["properties"] = dict(properties)
    state["set_at"] = {key: [0, "", SET] for key in properties} | dict(stamps or {})
    state["is_identified"] = is_identified
    state["version"] = version
    state["distinct_ids"] = dict(distinct_ids)
    return state


class MemoryPersonStore:
    """The same version rules in dicts, for agent tests; ``failures_to_inject`` for retries."""

    def __init__(self) -> None:
        self.persons_rows: dict[IdentityKey, Row] = {}
        self.deleted: dict[IdentityKey, int] = {}
        self.distinct_id_rows: dict[IdentityKey, Row] = {}
        self.failures_to_inject = 0

    async def write(self, persons: list[Row], distinct_ids: list[Row]) -> None:
        if self.failures_to_inject:
            self.failures_to_inject -= 1
            raise ConnectionError("injected PostgreSQL failure")
        for p in newest(persons, "project_id", "id"):
            key = (p["project_id"], p["id"])
            if p["is_deleted"]:
                self.deleted[key] = max(self.deleted.get(key, -1), p["version"])
                if key in self.persons_rows and self.persons_rows[key]["version"] < p["version"]:
                    del self.persons_rows[key]
            elif self.deleted.get(key, -1) < p["version"] and (
                key not in self.persons_rows or self.persons_rows[key]["version"] < p["version"]
            ):
                self.persons_rows[key] = p
        for d in newest(distinct_ids, "project_id", "distinct_id"):
            key = (d["project_id"], d["distinct_id"])
            old = self.distinct_id_rows.get(key)
            if old is not None and old["version"] >= d["version"]:
                continue
            if d["is_deleted"]:
                self.distinct_id_rows.pop(key, None)
            else:
                self.distinct_id_rows[key] = d

    async def distinct_id_persons(
        self, keys: list[IdentityKey]
    ) -> dict[IdentityKey, tuple[str, int]]:
        return {
            k: (self.distinct_id_rows[k]["person_id"], self.distinct_id_rows[k]["version"])
            for k in keys
            if k in self.distinct_id_rows
        }

    async def persons(self, keys: list[IdentityKey]) -> dict[IdentityKey, PersonState]:
        found: dict[IdentityKey, PersonState] = {}
        for key in keys:
            row = self.persons_rows.get(key)
            if row is None:
                continue
            dids = {
                d["distinct_id"]: d["version"]
                for d in self.distinct_id_rows.values()
                if d["project_id"] == key[0] and d["person_id"] == key[1]
            }
            found[key] = stored_person(
                key[0],
                key[1],
                row["properties"],
                row["is_identified"],
                row["created_at_us"],
                row["version"],
                dids,
                row.get("set_at"),
            )
        return found
