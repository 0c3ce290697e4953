"""Owners, assignment rules and assignments in PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cohortstream.assignment.state import Rule
from cohortstream.assignment.strategies import Owner

STRATEGIES = ("round_robin", "capacity_weighted")


class AssignmentError(ValueError):
    """A rule or owner that cannot be used; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


async def load_rules(connection: Any) -> dict[str, Rule]:
    """Every rule with its owners as they are now, by ``project:cohort``."""
    owners = {
        (row["project_id"], row["id"]): Owner(row["id"], row["active"], row["daily_capacity"])
        for row in await connection.fetch(
            "SELECT project_id, id, active, daily_capacity FROM owners"
        )
    }
    rules = {}
    for row in await connection.fetch(
        "SELECT project_id, cohort_id, strategy, owner_ids FROM assignment_rules"
    ):
        team = [
            owners.get((row["project_id"], owner_id), Owner(owner_id, active=False))
            for owner_id in row["owner_ids"]
        ]
        rules[f"{row['project_id']}:{row['cohort_id']}"] = Rule(
            row["project_id"], row["cohort_id"], row["strategy"], team
        )
    return rules


async def put_owner(connection: Any, project_id: int, owner_id: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise AssignmentError("name", "an owner needs a name")
    active = raw.get("active", True)
    capacity = raw.get("daily_capacity", 1)
    if not isinstance(active, bool):
        raise AssignmentError("active", "must be true or false")
    if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0:
        raise AssignmentError("daily_capacity", "must be a whole number, 0 or more")
    await connection.execute(
        """INSERT INTO owners (project_id, id, name, active, daily_capacity)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (project_id, id) DO UPDATE SET name = excluded.name,
            active = excluded.active, daily_capacity = excluded.daily_capacity,
            updated_at = now()""",
        project_id,
        owner_id,
        raw["name"],
        active,
        capacity,
    )
    return {"id": owner_id, "name": raw["name"], "active": active, "daily_capacity": capacity}


async def list_owners(connection: Any, project_id: int) -> list[dict[str, Any]]:
    rows = await connection.fetch(
        "SELECT id, name, active, daily_capacity FROM owners WHERE project_id = $1 ORDER BY id",
        project_id,
    )
    return [dict(row) for row in rows]


async def delete_owner(connection: Any, project_id: int, owner_id: str) -> bool:
    """Remove an owner; rules naming it skip it from now on, as if inactive.
    Their past assignments keep the owner id."""
    status = await connection.execute(
        "DELETE FROM owners WHERE project_id = $1 AND id = $2", project_id, owner_id
    )
    return bool(status != "DELETE 0")


async def put_rule(connection: Any, project_id: int, cohort_id: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("strategy") not in STRATEGIES:
        raise AssignmentError("strategy", f"one of {', '.join(STRATEGIES)}")
    owner_ids = raw.get("owner_ids")
    if (
        not isinstance(owner_ids, list)
        or not owner_ids
        or not all(isinstance(o, str) and o for o in owner_ids)
    ):
        raise AssignmentError("owner_ids", "a non-empty list of owner ids")
    known = {
        row["id"]
        for row in await connection.fetch(
            "SELECT id FROM owners WHERE project_id = $1 AND id = ANY($2::text[])",
            project_id,
            owner_ids,
        )
    }
    unknown = [o for o in owner_ids if o not in known]
    if unknown:
        raise AssignmentError("owner_ids", f"unknown owners {unknown}")
    await connection.execute(
        """INSERT INTO assignment_rules (project_id, cohort_id, strategy, owner_ids)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (project_id, cohort_id) DO UPDATE SET strategy = excluded.strategy,
            owner_ids = excluded.owner_ids, updated_at = now()""",
        project_id,
        cohort_id,
        raw["strategy"],
        owner_ids,
    )
    return {"cohort_id": cohort_id, "strategy": raw["strategy"], "owner_ids": owner_ids}


async def write_assignments(connection: Any, rows: list[dict[str, Any]]) -> None:
    """Idempotent by key: a repeat changes nothing; a parked row may become assigned."""
    await connection.executemany(
        """INSERT INTO assignments (idempotency_key, project_id, cohort_id, person_id,
            owner_id, status, strategy, entered_at, seq)
        VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8, $9)
        ON CONFLICT (idempotency_key) DO UPDATE SET owner_id = excluded.owner_id,
            status = excluded.status, seq = excluded.seq, updated_at = now()
        WHERE assignments.status = 'parked' AND excluded.status <> 'parked'""",
        [
            (
                row["idempotency_key"],
                row["project_id"],
                row["cohort_id"],
                row["person_id"],
                row["owner_id"],
                row["status"],
                row["strategy"],
                datetime.fromtimestamp(row["entered_at"], UTC),
                row.get("seq"),
            )
            for row in rows
        ],
    )


async def assigned_positions(connection: Any, keys: list[str]) -> dict[str, int]:
    """The rotation position each of ``keys`` was assigned at, where it was."""
    rows = await connection.fetch(
        "SELECT idempotency_key, seq FROM assignments"
        " WHERE idempotency_key = ANY($1::text[]) AND seq IS NOT NULL",
        keys,
    )
    return {row["idempotency_key"]: row["seq"] for row in rows}
