"""``GET /timers?project_id=&cohort_id=&limit=``: pending person deadlines, for debugging.

Every worker holds the deadlines of the persons it owns; the worker asked
gathers them (``scope=local`` answers for one worker). With a cohort, only
persons whose criteria for it can change by time alone, with that moment.
"""

from __future__ import annotations

import time
from typing import Any

from faust.web import Request, Response, View

from cohortstream.agents import cohorts
from cohortstream.streams.app import app
from cohortstream.tables.faust_tables import persons
from cohortstream.tables.person_cohorts import next_change_of
from cohortstream.web.cohorts import (
    BadRequest,
    WorkerUnavailable,
    ask_every_worker,
    error_response,
    parse_cohort_id,
    parse_project,
)

MAX_LIMIT = 1000


@app.page("/timers")
class Timers(View):
    async def get(self, request: Request) -> Response:
        try:
            wanted = _query(request)
        except BadRequest as exc:
            return error_response(self, exc)
        now = int(time.time())
        if request.query.get("scope") == "local":
            return self.json(_local(wanted, now))
        try:
            answers = await ask_every_worker(
                f"{request.url.path}?{request.url.query_string}&scope=local",
                lambda: _local(wanted, now),
            )
        except WorkerUnavailable as exc:
            return self.json({"error": str(exc)}, status=502)
        pending = sum(answer["pending"] for answer in answers)
        found = [timer for answer in answers for timer in answer["timers"]]
        found.sort(key=lambda timer: timer["due_at"])
        return self.json({"pending": pending, "timers": found[: wanted["limit"]], "now": now})


def _query(request: Request) -> dict[str, Any]:
    query = request.query
    cohort = query.get("cohort_id")
    project = query.get("project_id")
    if cohort is not None and project is None:
        raise BadRequest("cohort_id needs project_id (cohort ids are per project)")
    try:
        limit = int(query.get("limit", "100"))
    except ValueError as exc:
        raise BadRequest("limit must be a number") from exc
    if not 0 < limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return {
        "project_id": parse_project(project) if project is not None else None,
        "cohort_id": parse_cohort_id(cohort) if cohort is not None else None,
        "limit": limit,
    }


def _local(wanted: dict[str, Any], now: int) -> dict[str, Any]:
    project_id, cohort_id = wanted["project_id"], wanted["cohort_id"]
    definition = None
    if cohort_id is not None:
        project = cohorts.registry.project(project_id)
        definition = (
            next((d for d in project.cohorts if d.id == cohort_id), None) if project else None
        )
        if definition is None:
            return {"pending": 0, "timers": []}
    timers = []
    for key, due_at in cohorts.deadlines.pending():
        if project_id is not None and not key.startswith(f"{project_id}:"):
            continue
        timer: dict[str, Any] = {
            "worker": str(app.conf.canonical_url),
            "person": key,
            "due_at": due_at,
            "due_in_s": due_at - now,
        }
        if definition is not None:
            person = persons.get(key)
            change = next_change_of(person, definition, now) if person else None
            if change is None:
                continue
            timer["cohort_next_change"] = change
        timers.append(timer)
    return {"pending": len(timers), "timers": timers[: wanted["limit"]]}
