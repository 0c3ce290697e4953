"""``GET /openapi.json``: every route of a worker, described (OpenAPI 3.1).

The descriptions live here, one entry per method and path; a test fails when
a view gains a method or a path that this table does not describe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from faust.web import Request, Response, View

from cohortstream import __version__
from cohortstream.streams.app import app

JSON_OBJECT = {"type": "object"}


@dataclass(frozen=True)
class Operation:
    summary: str
    query: dict[str, str] = field(default_factory=dict)  # name -> description
    body: str | None = None  # what the JSON body holds
    responses: dict[int, str] = field(default_factory=dict)


def _ops(**by_method: Operation) -> dict[str, Operation]:
    return by_method


BAD = {400: "bad input; the error names the field"}
NOT_FOUND = {404: "not found"}

ROUTES: dict[str, dict[str, Operation]] = {
    "/cohorts": _ops(
        post=Operation(
            "Create a cohort (dynamic, manual or static); backfilled from history before it "
            "goes live",
            query={"backfill_from": "ISO time the backfill starts at (default: earliest)"},
            body="the cohort definition",
            responses={201: "created, with its status", **BAD, 409: "the id exists"},
        )
    ),
    "/cohorts/{project_id}": _ops(
        get=Operation("The project's cohorts with status and size", responses={200: "cohorts"})
    ),
    "/cohorts/{project_id}/{cohort_id}": _ops(
        get=Operation(
            "One cohort: definition, status, members", responses={200: "cohort", **NOT_FOUND}
        ),
        put=Operation(
            "Replace a cohort's definition (new criteria: a new generation, backfilled)",
            body="the cohort definition",
            responses={200: "replaced", **BAD, **NOT_FOUND},
        ),
        delete=Operation("Delete a cohort", responses={200: "deleted", **NOT_FOUND}),
    ),
    "/cohorts/{project_id}/{cohort_id}/members": _ops(
        get=Operation(
            "Current members' person ids, in id order",
            query={
                "limit": "page size (1-1000, default 100)",
                "after": "last id of the previous page",
            },
            responses={200: "a page, with `next` when more follow", **BAD},
        ),
        post=Operation(
            "Add members to a manual cohort (through the stream)",
            body='{"distinct_ids": [...]}',
            responses={202: "accepted", **BAD, 409: "not a manual cohort"},
        ),
        delete=Operation(
            "Remove members from a manual cohort (through the stream)",
            body='{"distinct_ids": [...]}',
            responses={202: "accepted", **BAD, 409: "not a manual cohort"},
        ),
    ),
    "/cohorts/{project_id}/{cohort_id}/progress": _ops(
        get=Operation(
            "A static cohort against today: how many members still match (all workers)",
            responses={200: "counts", **NOT_FOUND, 409: "not static"},
        )
    ),
    "/cohorts/{project_id}/{cohort_id}/assignment": _ops(
        get=Operation("The cohort's assignment rule", responses={200: "rule", **NOT_FOUND}),
        put=Operation(
            "Set the assignment rule",
            body='{"strategy": "round_robin" | "capacity_weighted", "owner_ids": [...]}',
            responses={200: "saved", **BAD},
        ),
    ),
    "/cohorts/{project_id}/{cohort_id}/assignments": _ops(
        get=Operation(
            "Assignments, newest first",
            query={"owner_id": "only this owner's", "limit": "at most this many (default 100)"},
            responses={200: "assignments", **BAD},
        )
    ),
    "/cohorts/{project_id}/{cohort_id}/assign": _ops(
        post=Operation(
            "Assign current members not yet assigned (a job; under 100 answered when done)",
            responses={200: "done", 202: "job started", **NOT_FOUND, 409: "no rule"},
        )
    ),
    "/jobs/{job_id}": _ops(
        get=Operation("A bulk assignment job's progress", responses={200: "progress", **NOT_FOUND})
    ),
    "/owners/{project_id}": _ops(get=Operation("The project's owners", responses={200: "owners"})),
    "/owners/{project_id}/{owner_id}": _ops(
        put=Operation(
            "Create or update an owner",
            body='{"name": str, "active": bool, "daily_capacity": int}',
            responses={200: "saved", **BAD},
        ),
        delete=Operation("Remove an owner; rules skip it", responses={200: "deleted", **NOT_FOUND}),
    ),
    "/persons/{project_id}/{distinct_id}": _ops(
        get=Operation(
            "The person of a distinct_id (from the worker that owns it)",
            responses={200: "person", **BAD, **NOT_FOUND},
        ),
        delete=Operation(
            "Delete the person (a $delete_person event, in order with the rest)",
            responses={202: "accepted", **BAD},
        ),
    ),
    "/persons/{project_id}/{distinct_id}/cohorts": _ops(
        get=Operation(
            "The cohorts the person is in now (id -> entered at)",
            responses={200: "cohorts", **BAD, **NOT_FOUND},
        )
    ),
    "/persons/{project_id}/by-id/{person_id}": _ops(
        get=Operation("A person by id", responses={200: "person", **BAD, **NOT_FOUND})
    ),
    "/persons/{project_id}/{distinct_id}/cohorts/{cohort_id}/why": _ops(
        get=Operation(
            "Why the person is in the cohort or not: membership, the criteria tree "
            "evaluated now with each condition's inputs, the next deadline",
            responses={200: "explanation", **BAD, **NOT_FOUND},
        )
    ),
    "/persons/{project_id}/by-id/{person_id}/cohorts/{cohort_id}/why": _ops(
        get=Operation("The same, by person id", responses={200: "explanation", **BAD, **NOT_FOUND})
    ),
    "/partitions": _ops(
        get=Operation(
            "This worker's partitions, lag per partition, standbys", responses={200: "partitions"}
        )
    ),
    "/timers": _ops(
        get=Operation(
            "Pending person deadlines on every worker",
            query={
                "project_id": "only this project's",
                "cohort_id": "only persons whose criteria for it change by time (needs project_id)",
                "limit": "at most this many (1-1000, default 100)",
            },
            responses={200: "timers", **BAD},
        )
    ),
    "/": _ops(
        get=Operation(
            "Status page for people: throughput, lag, cohort sizes (HTML)",
            query={"project_id": "only this project's cohorts"},
            responses={200: "html", **BAD},
        )
    ),
    "/status.json": _ops(
        get=Operation(
            "The status page's figures: events/s, lag per worker, cohort sizes and last hour",
            query={"project_id": "only this project's cohorts"},
            responses={200: "status", **BAD},
        )
    ),
    "/metrics": _ops(get=Operation("Prometheus metrics of this worker", responses={200: "text"})),
    "/health": _ops(
        get=Operation(
            "Liveness: fails when a partition with lag stops committing",
            responses={200: "ok", 503: "stalled"},
        )
    ),
    "/ready": _ops(
        get=Operation(
            "Readiness: tables recovered, no rebalance", responses={200: "ready", 503: "not yet"}
        )
    ),
    "/openapi.json": _ops(get=Operation("This description", responses={200: "OpenAPI 3.1"})),
}

_PATH_PARAMETER = re.compile(r"{(\w+)}")


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for path, operations in ROUTES.items():
        parameters = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer" if name == "project_id" else "string"},
            }
            for name in _PATH_PARAMETER.findall(path)
        ]
        paths[path] = {method: _operation(op, parameters) for method, op in operations.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "cohortstream worker", "version": __version__},
        "paths": paths,
    }


def _operation(op: Operation, path_parameters: list[dict[str, Any]]) -> dict[str, Any]:
    described: dict[str, Any] = {
        "summary": op.summary,
        "parameters": path_parameters
        + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in op.query.items()
        ],
        "responses": {
            str(code): {
                "description": text,
                "content": {"application/json": {"schema": JSON_OBJECT}},
            }
            for code, text in (op.responses or {200: "ok"}).items()
        },
    }
    if op.body is not None:
        described["requestBody"] = {
            "required": True,
            "description": op.body,
            "content": {"application/json": {"schema": JSON_OBJECT}},
        }
    return described


@app.page("/openapi.json")
class OpenApi(View):
    async def get(self, request: Request) -> Response:
        return self.json(openapi_document())
