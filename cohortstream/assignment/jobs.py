"""Bulk assignment of a cohort's current members, through the same agent.

A job turns each current member not yet assigned for the cohort into a
synthetic ``entered`` transition (``source: bulk``, key ``bulk:{job}:...``) on
the cohort's partition of cohort_transitions, so the agent that owns the
cohort's rotation assigns them in order with everything else: one writer per
cohort, the same exactly-once rules. Progress is read back from PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from typing import Any


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def bulk_transition(job_id: str, project_id: int, cohort_id: str, person_id: str) -> dict[str, Any]:
    return {
        "idempotency_key": f"bulk:{job_id}:{cohort_id}:{person_id}",
        "cohort_id": cohort_id,
        "project_id": project_id,
        "person_id": person_id,
        "kind": "entered",
        "entry_count": 0,
        "at": int(time.time()),
        "source": "bulk",
    }


async def record_job(
    connection: Any, job_id: str, project_id: int, cohort_id: str, total: int, skipped: int
) -> None:
    await connection.execute(
        "INSERT INTO assignment_jobs (id, project_id, cohort_id, total, skipped) "
        "VALUES ($1, $2, $3, $4, $5)",
        job_id,
        project_id,
        cohort_id,
        total,
        skipped,
    )


async def already_assigned(connection: Any, project_id: int, cohort_id: str) -> set[str]:
    rows = await connection.fetch(
        "SELECT DISTINCT person_id::text AS p FROM assignments "
        "WHERE project_id = $1 AND cohort_id = $2 AND status = 'assigned'",
        project_id,
        cohort_id,
    )
    return {row["p"] for row in rows}


async def job_progress(connection: Any, job_id: str) -> dict[str, Any] | None:
    job = await connection.fetchrow(
        "SELECT id, project_id, cohort_id, total, skipped, created_at "
        "FROM assignment_jobs WHERE id = $1",
        job_id,
    )
    if job is None:
        return None
    counts = {
        row["status"]: row["n"]
        for row in await connection.fetch(
            "SELECT status, count(*) AS n FROM assignments "
            "WHERE idempotency_key LIKE $1 GROUP BY status",
            f"assign:bulk:{job_id}:%",
        )
    }
    assigned, parked = counts.get("assigned", 0), counts.get("parked", 0)
    return {
        "id": job["id"],
        "cohort_id": job["cohort_id"],
        "total": job["total"],
        "skipped_already_assigned": job["skipped"],
        "assigned": assigned,
        "parked": parked,
        "pending": job["total"] - assigned - parked,
        "failed": [{"reason": "no active owner", "count": parked}] if parked else [],
        "done": assigned + parked >= job["total"],
        "created_at": job["created_at"].isoformat(),
    }
