"""Owners, assignment rules and assignments over HTTP (PostgreSQL; any worker).

GET  /owners/{project_id}
PUT  /owners/{project_id}/{owner_id}                  {name, active, daily_capacity}
DELETE /owners/{project_id}/{owner_id}                rules skip it from then on
GET  /cohorts/{project_id}/{cohort_id}/assignment     the rule
PUT  /cohorts/{project_id}/{cohort_id}/assignment     {strategy, owner_ids}
GET  /cohorts/{project_id}/{cohort_id}/assignments?owner_id=&limit=   newest first
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from faust.web import Request, Response, View

from cohortstream.agents import wiring
from cohortstream.assignment.jobs import (
    already_assigned,
    bulk_transition,
    job_progress,
    new_job_id,
    record_job,
)
from cohortstream.assignment.store import (
    AssignmentError,
    delete_owner,
    list_owners,
    put_owner,
    put_rule,
)
from cohortstream.streams.app import app, cohort_transitions_topic
from cohortstream.web.cohorts import (
    BadRequest,
    described,
    error_response,
    parse_cohort_id,
    parse_project,
    read_json,
    warehouse,
)

MAX_PAGE = 1000
SYNC_LIMIT = 100  # smaller cohorts are answered when done; larger ones get a job id
SYNC_WAIT_S = 15.0
log = logging.getLogger(__name__)
_jobs: set[asyncio.Task[None]] = set()


def _problem(view: View, exc: Exception) -> Response:
    if isinstance(exc, AssignmentError):
        return view.json({"error": str(exc), "field": exc.field}, status=400)
    return error_response(view, exc)


@app.page("/owners/{project_id}")
class Owners(View):
    async def get(self, request: Request, project_id: str) -> Response:
        try:
            project = parse_project(project_id)
        except BadRequest as exc:
            return _problem(self, exc)
        async with (await wiring.postgres.pool()).acquire() as connection:
            return self.json({"owners": await list_owners(connection, project)})


@app.page("/owners/{project_id}/{owner_id}")
class OwnerView(View):
    async def put(self, request: Request, project_id: str, owner_id: str) -> Response:
        try:
            project, owner = parse_project(project_id), parse_cohort_id(owner_id)
            raw = await read_json(request)
            async with (await wiring.postgres.pool()).acquire() as connection:
                saved = await put_owner(connection, project, owner, raw)
        except (BadRequest, AssignmentError) as exc:
            return _problem(self, exc)
        return self.json(saved)

    async def delete(self, request: Request, project_id: str, owner_id: str) -> Response:
        try:
            project, owner = parse_project(project_id), parse_cohort_id(owner_id)
        except BadRequest as exc:
            return _problem(self, exc)
        async with (await wiring.postgres.pool()).acquire() as connection:
            if not await delete_owner(connection, project, owner):
                return self.json({"error": f"no owner {owner!r} in project {project}"}, status=404)
        return self.json({"deleted": owner})


@app.page("/cohorts/{project_id}/{cohort_id}/assignment")
class AssignmentRule(View):
    async def get(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
        except BadRequest as exc:
            return _problem(self, exc)
        async with (await wiring.postgres.pool()).acquire() as connection:
            row = await connection.fetchrow(
                "SELECT strategy, owner_ids FROM assignment_rules "
                "WHERE project_id = $1 AND cohort_id = $2",
                project,
                cohort,
            )
        if row is None:
            return self.json({"error": f"no assignment rule for {cohort!r}"}, status=404)
        return self.json({"cohort_id": cohort, **dict(row)})

    async def put(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
            raw = await read_json(request)
            if not await described(project, cohort):
                return self.json({"error": f"no cohort {cohort!r}"}, status=404)
            async with (await wiring.postgres.pool()).acquire() as connection:
                saved = await put_rule(connection, project, cohort, raw)
        except (BadRequest, AssignmentError) as exc:
            return _problem(self, exc)
        return self.json(saved)


@app.page("/cohorts/{project_id}/{cohort_id}/assignments")
class Assignments(View):
    async def get(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
            limit = int(request.query.get("limit", "100"))
            if not 0 < limit <= MAX_PAGE:
                raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        except ValueError as exc:
            return _problem(self, BadRequest(str(exc)))
        owner = request.query.get("owner_id")
        async with (await wiring.postgres.pool()).acquire() as connection:
            rows = await connection.fetch(
                """SELECT idempotency_key, person_id::text AS person_id, owner_id, status,
                    strategy, entered_at FROM assignments
                WHERE project_id = $1 AND cohort_id = $2 AND ($3::text IS NULL OR owner_id = $3)
                ORDER BY entered_at DESC, idempotency_key LIMIT $4""",
                project,
                cohort,
                owner,
                limit,
            )
        return self.json({"assignments": [_row(row) for row in rows]})


def _row(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["entered_at"] = item["entered_at"].isoformat()
    return item


@app.page("/cohorts/{project_id}/{cohort_id}/assign")
class BulkAssign(View):
    async def post(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
        except BadRequest as exc:
            return _problem(self, exc)
        if not await described(project, cohort):
            return self.json({"error": f"no cohort {cohort!r}"}, status=404)
        members = await _current_members(project, cohort)
        async with (await wiring.postgres.pool()).acquire() as connection:
            if not await connection.fetchval(
                "SELECT 1 FROM assignment_rules WHERE project_id = $1 AND cohort_id = $2",
                project,
                cohort,
            ):
                error = {"error": f"cohort {cohort!r} has no assignment rule"}
                return self.json(error, status=409)
            done = await already_assigned(connection, project, cohort)
            todo = [m for m in members if m not in done]
            job_id = new_job_id()
            await record_job(
                connection, job_id, project, cohort, len(todo), len(members) - len(todo)
            )
        send = asyncio.create_task(_send(job_id, project, cohort, todo))
        _jobs.add(send)
        send.add_done_callback(_jobs.discard)
        if len(todo) >= SYNC_LIMIT:
            return self.json({"job_id": job_id, "progress": f"/jobs/{job_id}"}, status=202)
        deadline = time.monotonic() + SYNC_WAIT_S
        while True:
            async with (await wiring.postgres.pool()).acquire() as connection:
                progress = await job_progress(connection, job_id)
            if progress is None or progress["done"] or time.monotonic() > deadline:
                return self.json({"job_id": job_id, **(progress or {})})
            await asyncio.sleep(0.2)


@app.page("/jobs/{job_id}")
class JobProgress(View):
    async def get(self, request: Request, job_id: str) -> Response:
        async with (await wiring.postgres.pool()).acquire() as connection:
            progress = await job_progress(connection, job_id)
        if progress is None:
            return self.json({"error": f"no job {job_id!r}"}, status=404)
        return self.json(progress)


async def _current_members(project: int, cohort: str) -> list[str]:
    sql = (
        "SELECT toString(person_id) AS p FROM cohort_members FINAL "  # noqa: S608
        f"WHERE project_id = {project} AND cohort_id = '{cohort}' AND is_member = 1 "
        "ORDER BY person_id"
    )
    return [row["p"] for row in await warehouse().query_rows(sql)]


async def _send(job_id: str, project: int, cohort: str, people: list[str]) -> None:
    """Each member as a synthetic entrant on the cohort's partition of the topic."""
    try:
        for person_id in people:
            await cohort_transitions_topic.send(
                key=f"{project}:{cohort}".encode(),
                value=bulk_transition(job_id, project, cohort, person_id),
            )
    except Exception:
        log.exception("assignment job %s stopped sending", job_id)
