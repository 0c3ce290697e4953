"""Cohort definitions and members over HTTP.

Cohort ids are unique per project, so routes name both, like the persons
routes: ``/cohorts/{project_id}/{cohort_id}``. Definitions live in PostgreSQL
(any worker answers; every worker picks changes up within the registry's
refresh interval); members are read from ClickHouse ``cohort_members``.

  GET    /cohorts/{project_id}                       definitions, with sizes
  POST   /cohorts[?backfill_from=ISO]                create (409 if the id exists)
  GET    /cohorts/{project_id}/{cohort_id}           one definition, with its size
  PUT    /cohorts/{project_id}/{cohort_id}[?backfill_from=ISO]   create or replace
  (new criteria are materialized from events received since backfill_from, or all)
  DELETE /cohorts/{project_id}/{cohort_id}
  GET    /cohorts/{project_id}/{cohort_id}/members?limit=&after=   person ids, paged
  GET    /cohorts/{project_id}/{cohort_id}/progress  static: members, still matching, diverged
  POST   /cohorts/{project_id}/{cohort_id}/members   {"distinct_ids": [...]} (manual)
  DELETE /cohorts/{project_id}/{cohort_id}/members   {"distinct_ids": [...]} (manual)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from faust.web import Request, Response, View

from cohortstream.agents import wiring
from cohortstream.cohorts.definition import (
    COHORT_ID,
    CohortDefinition,
    DefinitionError,
    parse_definition,
)
from cohortstream.cohorts.store import (
    CohortExists,
    apply_definitions,
    create_definition,
    delete_definition,
    stored_cohorts,
)
from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.warehouse import Warehouse
from cohortstream.streams.app import app, events_topic, person_commands_topic, settings
from cohortstream.tables.faust_tables import persons
from cohortstream.tables.identities import MANUAL_MEMBERSHIP_EVENT
from cohortstream.tables.keys import identity_key, partition_for
from cohortstream.tables.person_cohorts import static_progress
from cohortstream.web.persons import fetch_json, is_me

MAX_PAGE = 1000
_warehouse: Warehouse | None = None


def warehouse() -> Warehouse:
    global _warehouse
    if _warehouse is None:
        _warehouse = open_warehouse(settings)
    return _warehouse


class BadRequest(ValueError):
    pass


def parse_project(raw: str) -> int:
    if not raw.isdigit() or int(raw) == 0:
        raise BadRequest("project_id must be a positive integer")
    return int(raw)


def parse_cohort_id(raw: str) -> str:
    if not COHORT_ID.match(raw):
        raise BadRequest(f"{raw!r} is not a cohort id (lower case letters, digits, - and _)")
    return raw


async def read_json(request: Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None


def _backfill_from(request: Request) -> datetime | None:
    """``?backfill_from=ISO-8601``: history to materialize a new generation from."""
    raw = request.query.get("backfill_from")
    if not raw:
        return None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"backfill_from {raw!r} is not an ISO 8601 time") from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def error_response(view: View, exc: Exception) -> Response:
    if isinstance(exc, DefinitionError):
        return view.json({"error": str(exc), "field": exc.field}, status=400)
    if isinstance(exc, CohortExists):
        return view.json({"error": str(exc)}, status=409)
    return view.json({"error": str(exc)}, status=400)


async def member_counts(project_id: int) -> dict[str, int]:
    # Interpolated values are validated first: integers, cohort ids, uuids.
    sql = (
        "SELECT cohort_id, count() AS n FROM cohort_members FINAL "  # noqa: S608
        f"WHERE project_id = {int(project_id)} AND is_member = 1 GROUP BY cohort_id"
    )
    rows = await warehouse().query_rows(sql)
    return {row["cohort_id"]: int(row["n"]) for row in rows}


async def described(project_id: int, cohort_id: str | None = None) -> list[dict[str, Any]]:
    async with (await wiring.postgres.pool()).acquire() as connection:
        stored = await stored_cohorts(connection, project_id, cohort_id)
    sizes = await member_counts(project_id) if stored else {}
    return [{**item, "members": sizes.get(item["definition"]["id"], 0)} for item in stored]


@app.page("/cohorts")
class Cohorts(View):
    async def post(self, request: Request) -> Response:
        try:
            raw = await read_json(request)
            since = _backfill_from(request)
            async with (await wiring.postgres.pool()).acquire() as connection:
                definition = await create_definition(connection, raw, since)
        except (BadRequest, DefinitionError, CohortExists) as exc:
            return error_response(self, exc)
        return self.json(
            {"definition": definition.model_dump(mode="json", exclude_none=True)}, status=201
        )


@app.page("/cohorts/{project_id}")
class ProjectCohorts(View):
    async def get(self, request: Request, project_id: str) -> Response:
        try:
            project = parse_project(project_id)
        except BadRequest as exc:
            return error_response(self, exc)
        return self.json({"cohorts": await described(project)})


@app.page("/cohorts/{project_id}/{cohort_id}")
class Cohort(View):
    async def get(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
        except BadRequest as exc:
            return error_response(self, exc)
        found = await described(project, cohort)
        if not found:
            return self.json({"error": f"no cohort {cohort!r} in project {project}"}, status=404)
        return self.json(found[0])

    async def put(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
            raw = await read_json(request)
            if not isinstance(raw, dict):
                raise BadRequest("the body must be a cohort definition (a JSON object)")
            for field, expected in (("project_id", project), ("id", cohort)):
                if raw.setdefault(field, expected) != expected:
                    raise DefinitionError(field, f"does not match the path ({expected!r})")
            since = _backfill_from(request)
            async with (await wiring.postgres.pool()).acquire() as connection:
                await apply_definitions(connection, [raw], since)
        except (BadRequest, DefinitionError) as exc:
            return error_response(self, exc)
        return self.json((await described(project, cohort))[0])

    async def delete(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
            async with (await wiring.postgres.pool()).acquire() as connection:
                await delete_definition(connection, project, cohort)
        except BadRequest as exc:
            return error_response(self, exc)
        except DefinitionError as exc:
            return self.json({"error": exc.message}, status=404)
        return self.json({"deleted": cohort})


MAX_MANUAL_BATCH = 10_000


@app.page("/cohorts/{project_id}/{cohort_id}/members")
class CohortMembers(View):
    """Current members' person ids in id order; ``after`` is the last id of a page.
    POST and DELETE ``{"distinct_ids": [...]}`` add and remove members of a manual
    cohort: ``$cohort_member`` events, so they take the stream's path (and order)."""

    async def post(self, request: Request, project_id: str, cohort_id: str) -> Response:
        return await self._manual(request, project_id, cohort_id, member=True)

    async def delete(self, request: Request, project_id: str, cohort_id: str) -> Response:
        return await self._manual(request, project_id, cohort_id, member=False)

    async def _manual(
        self, request: Request, project_id: str, cohort_id: str, *, member: bool
    ) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
            raw = await read_json(request)
            distinct_ids = raw.get("distinct_ids") if isinstance(raw, dict) else None
            if (
                not isinstance(distinct_ids, list)
                or not 0 < len(distinct_ids) <= MAX_MANUAL_BATCH
                or not all(isinstance(d, str) and d for d in distinct_ids)
            ):
                raise BadRequest(
                    f"the body must be {{'distinct_ids': [...]}}: 1 to {MAX_MANUAL_BATCH} strings"
                )
        except BadRequest as exc:
            return error_response(self, exc)
        found = await described(project, cohort)
        if not found:
            return self.json({"error": f"no cohort {cohort!r} in project {project}"}, status=404)
        if found[0]["definition"].get("kind") != "manual":
            return self.json({"error": f"cohort {cohort!r} is not manual"}, status=409)
        for distinct_id in distinct_ids:
            payload = {
                "event": MANUAL_MEMBERSHIP_EVENT,
                "distinct_id": distinct_id,
                "project_id": project,
                "properties": {"cohort_id": cohort, "member": member},
            }
            await events_topic.send(
                key=identity_key(project, distinct_id).encode(), value=orjson.dumps(payload)
            )
        return self.json({"accepted": len(distinct_ids)}, status=202)

    async def get(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
            limit = int(request.query.get("limit", "100"))
            if not 0 < limit <= MAX_PAGE:
                raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
            after = request.query.get("after")
            after_id = str(uuid.UUID(after)) if after else None
        except ValueError as exc:  # BadRequest, or a malformed limit or uuid
            return error_response(self, BadRequest(str(exc)))
        cursor = f"AND person_id > toUUID('{after_id}')" if after_id else ""
        sql = (
            "SELECT toString(person_id) AS person_id FROM cohort_members FINAL "  # noqa: S608
            f"WHERE project_id = {project} AND cohort_id = '{cohort}' AND is_member = 1 "
            f"{cursor} ORDER BY person_id LIMIT {limit}"
        )
        rows = await warehouse().query_rows(sql)
        members = [row["person_id"] for row in rows]
        page: dict[str, Any] = {"members": members}
        if len(members) == limit:
            page["next"] = f"/cohorts/{project}/{cohort}/members?limit={limit}&after={members[-1]}"
        return self.json(page)


@app.page("/cohorts/{project_id}/{cohort_id}/progress")
class StaticCohortProgress(View):
    """A static cohort against today: each worker counts the persons it holds
    (``?scope=local``); the worker asked adds every worker's counts up."""

    async def get(self, request: Request, project_id: str, cohort_id: str) -> Response:
        try:
            project, cohort = parse_project(project_id), parse_cohort_id(cohort_id)
        except BadRequest as exc:
            return error_response(self, exc)
        found = await described(project, cohort)
        if not found:
            return self.json({"error": f"no cohort {cohort!r} in project {project}"}, status=404)
        definition = parse_definition(found[0]["definition"])
        if definition.kind != "static":
            return self.json({"error": f"cohort {cohort!r} is not static"}, status=409)
        now = int(time.time())
        if request.query.get("scope") == "local":
            return self.json(_local_progress(definition, now))
        try:
            answers = await ask_every_worker(
                f"{request.url.path}?scope=local",
                lambda: _local_progress(definition, now),
            )
        except WorkerUnavailable as exc:
            return self.json({"error": str(exc)}, status=502)
        total = sum(answer["total"] for answer in answers)
        matching = sum(answer["still_matching"] for answer in answers)
        return self.json(
            {
                "cohort_id": cohort,
                "status": found[0]["status"],
                "total": total,
                "still_matching": matching,
                "diverged": total - matching,
                "at": now,
            }
        )


def _local_progress(definition: CohortDefinition, now: int) -> dict[str, int]:
    mine = {
        tp.partition
        for tp in app.consumer.assignment()
        if tp.topic == person_commands_topic.get_topic_name()
    }
    held = (
        state
        for key, state in persons.items()
        if partition_for(key, settings.topic_partitions) in mine
    )
    total, matching = static_progress(held, definition, now)
    return {"total": total, "still_matching": matching}


def workers() -> list[str]:
    hosts = {str(host) for host in app.router.external_topics_metadata()}
    hosts.add(str(app.conf.canonical_url))
    return sorted(hosts)


class WorkerUnavailable(Exception):
    """A worker asked for its share did not answer 200."""


async def ask_every_worker(
    local_path: str, answer_here: Callable[[], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every worker's answer for what it holds: this worker's computed here, the
    others' fetched from ``local_path`` (a ``scope=local`` URL)."""
    answers = []
    for worker in workers():
        if is_me(worker):
            answers.append(answer_here())
            continue
        body, status = await fetch_json(worker, local_path)
        if status != 200:
            raise WorkerUnavailable(f"{worker} answered {status}: {body}")
        answers.append(body)
    return answers
