"""Cohort definitions in PostgreSQL: validated on the way in, loaded by every worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from cohortstream.cohorts.definition import (
    CohortDefinition,
    DefinitionError,
    dependency_order,
    generation_of,
    parse_definition,
)

BACKFILLING = "backfilling"
LIVE = "live"


async def load_definitions(connection: Any) -> list[CohortDefinition]:
    """Every live definition (rows that no longer validate are skipped, not fatal)."""
    rows = await connection.fetch("SELECT definition::text AS d FROM cohorts WHERE NOT deleted")
    definitions = []
    for row in rows:
        try:
            definitions.append(parse_definition(orjson.loads(row["d"])))
        except DefinitionError:
            continue
    return definitions


async def apply_definitions(
    connection: Any, raw: list[Any], backfill_from: datetime | None = None
) -> list[str]:
    """Validate and upsert definitions (one transaction; all or none). Cohort
    references are checked against the project's other cohorts. A backfill the
    change causes reads events received from ``backfill_from`` (None: all
    retained ones). Returns the ids."""
    parsed = [parse_definition(item) for item in raw]
    async with connection.transaction():
        existing = await load_definitions(connection)
        incoming = {(d.project_id, d.id) for d in parsed}
        others = [d for d in existing if (d.project_id, d.id) not in incoming]
        for project_id in {d.project_id for d in parsed}:
            dependency_order([d for d in [*others, *parsed] if d.project_id == project_id])
        for definition in parsed:
            # New criteria (a new generation) of a dynamic cohort: backfill first.
            await connection.execute(
                """INSERT INTO cohorts
                    (project_id, id, definition, generation, status, backfill_from)
                VALUES ($1, $2, $3::jsonb, $4, $5, $6)
                ON CONFLICT (project_id, id) DO UPDATE SET definition = excluded.definition,
                    version = cohorts.version + 1, deleted = false, updated_at = now(),
                    generation = excluded.generation, backfill_from = excluded.backfill_from,
                    status = CASE WHEN cohorts.generation = excluded.generation
                        AND NOT cohorts.deleted THEN cohorts.status ELSE excluded.status END""",
                definition.project_id,
                definition.id,
                definition.model_dump_json(exclude_none=True),
                generation_of(definition),
                LIVE if definition.kind == "manual" else BACKFILLING,
                backfill_from,
            )
    return [d.id for d in parsed]


async def delete_definition(connection: Any, project_id: int, cohort_id: str) -> bool:
    status = await connection.execute(
        "UPDATE cohorts SET deleted = true, updated_at = now() WHERE project_id = $1 AND id = $2",
        project_id,
        cohort_id,
    )
    if not status.endswith(" 1"):
        raise DefinitionError("id", f"no cohort {cohort_id!r} in project {project_id}")
    return True


class CohortExists(ValueError):
    """POST of a cohort id that the project already has."""


async def create_definition(
    connection: Any, raw: Any, backfill_from: datetime | None = None
) -> CohortDefinition:
    """A new cohort; raises CohortExists for a live id, DefinitionError when invalid."""
    definition = parse_definition(raw)
    async with connection.transaction():
        row = await connection.fetchrow(
            "SELECT deleted FROM cohorts WHERE project_id = $1 AND id = $2 FOR UPDATE",
            definition.project_id,
            definition.id,
        )
        if row is not None and not row["deleted"]:
            raise CohortExists(
                f"cohort {definition.id!r} exists in project {definition.project_id}"
            )
        await apply_definitions(connection, [raw], backfill_from)
    return definition


async def stored_cohorts(
    connection: Any, project_id: int, cohort_id: str | None = None
) -> list[dict[str, Any]]:
    """Live definitions of a project (or one of them) with their version and times."""
    rows = await connection.fetch(
        """SELECT definition::text AS d, version, status, created_at, updated_at FROM cohorts
        WHERE project_id = $1 AND NOT deleted AND ($2::text IS NULL OR id = $2)
        ORDER BY id""",
        project_id,
        cohort_id,
    )
    return [
        {
            "definition": orjson.loads(row["d"]),
            "version": row["version"],
            "status": row["status"],
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
        }
        for row in rows
    ]


@dataclass(frozen=True)
class PendingBackfill:
    definition: CohortDefinition
    generation: str
    since_us: int  # events received before this are not replayed (0: all)
    age_s: float  # since the definition last changed


async def pending_backfills(connection: Any) -> list[PendingBackfill]:
    """Cohorts whose current generation is not materialized yet."""
    rows = await connection.fetch(
        "SELECT definition::text AS d, backfill_from, "
        "extract(epoch FROM now() - updated_at)::float8 AS age_s FROM cohorts "
        "WHERE status = $1 AND NOT deleted ORDER BY updated_at",
        BACKFILLING,
    )
    pending = []
    for row in rows:
        try:
            definition = parse_definition(orjson.loads(row["d"]))
        except DefinitionError:
            continue
        if definition.kind != "manual":
            since = row["backfill_from"]
            since_us = int(since.timestamp() * 1_000_000) if since is not None else 0
            pending.append(
                PendingBackfill(definition, generation_of(definition), since_us, row["age_s"])
            )
    return pending


async def mark_live(connection: Any, project_id: int, cohort_id: str, generation: str) -> bool:
    """The generation's backfill is done (a newer generation stays backfilling).
    Rows from before generations were stored ('') take the one computed."""
    status = await connection.execute(
        "UPDATE cohorts SET status = $4, generation = $3 "
        "WHERE project_id = $1 AND id = $2 AND generation IN ($3, '')",
        project_id,
        cohort_id,
        generation,
        LIVE,
    )
    return bool(status.endswith(" 1"))


async def mark_backfilling(
    connection: Any, project_id: int, cohort_id: str, generation: str
) -> None:
    """Materialize a live generation again (its activations were lost)."""
    await connection.execute(
        "UPDATE cohorts SET status = $4 "
        "WHERE project_id = $1 AND id = $2 AND generation = $3 AND status = $5",
        project_id,
        cohort_id,
        generation,
        BACKFILLING,
        LIVE,
    )
