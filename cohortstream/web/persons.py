"""``GET /persons/{project_id}/{distinct_id}`` and friends.

A distinct_id's mapping and its person's state may live on two workers (they
are partitioned differently), so the view asks the identity table's owner for
the person id and the persons table's owner for the person.

Owners are looked up by the topic a table is co-partitioned with (events for
identities, person_commands for persons), not by the table: Faust's table
routing reads the changelog assignment, where every worker appears for every
partition (actives and standbys), and sent half the requests to the wrong one.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from faust.web import Request, Response, View

from cohortstream.agents import cohorts
from cohortstream.streams.app import app, events_topic, person_commands_topic, settings
from cohortstream.tables.cohort_why import why_answer
from cohortstream.tables.faust_tables import identities, persons
from cohortstream.tables.keys import identity_key, partition_for, person_key
from cohortstream.tables.person_state import PersonState, public_view

MAX_FORWARDS = 32
_MISSING = {404: "no person {}", 500: "merge chain too long at {}"}


def _project(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


async def _by_person_of(
    view: View,
    request: Request,
    project_id: str,
    distinct_id: str,
    answer: Callable[[int, str], Awaitable[Response]],
) -> Response:
    """``answer(project, person_id)`` for the distinct_id's person, asked on the worker
    owning the distinct_id (the request goes there when it is another)."""
    project = _project(project_id)
    if project is None:
        return view.json({"error": "project_id must be a positive integer"}, status=400)
    key = identity_key(project, distinct_id)
    owner = owner_of(events_topic.get_topic_name(), key)
    if not is_me(owner):
        body, status = await fetch_json(owner, request.url.path)
        return view.json(body, status=status)
    entry = identities.get(key)
    if entry is None or entry[0] is None:
        return view.json({"error": f"no person for distinct_id {distinct_id!r}"}, status=404)
    return await answer(project, entry[0])


class _PersonOfDistinctId(View):
    """Finds a distinct_id's person on the worker that owns it."""

    async def get(self, request: Request, project_id: str, distinct_id: str) -> Response:
        return await _by_person_of(self, request, project_id, distinct_id, self._person)

    async def _person(self, project: int, person_id: str) -> Response:
        url = _owner_of_person(project, person_id)
        if is_me(url):
            body, status = person_answer(project, person_id)
            return self.json(body, status=status)
        body, status = await fetch_json(url, f"/persons/{project}/by-id/{person_id}")
        return self.json(body, status=status)


@app.page("/persons/{project_id}/{distinct_id}")
class PersonByDistinctId(_PersonOfDistinctId):
    async def delete(self, request: Request, project_id: str, distinct_id: str) -> Response:
        """Deletes through the stream: a ``$delete_person`` event, in order with the rest."""
        project = _project(project_id)
        if project is None:
            return self.json({"error": "project_id must be a positive integer"}, status=400)
        payload = {"event": "$delete_person", "distinct_id": distinct_id, "project_id": project}
        await events_topic.send(
            key=identity_key(project, distinct_id).encode(), value=orjson.dumps(payload)
        )
        return self.json({"status": "accepted"}, status=202)


@app.page("/persons/{project_id}/{distinct_id}/cohorts")
class PersonCohorts(_PersonOfDistinctId):
    """The cohorts a distinct_id's person is in now (id -> entered at, seconds)."""

    async def get(self, request: Request, project_id: str, distinct_id: str) -> Response:
        response = await super().get(request, project_id, distinct_id)
        body = orjson.loads(response.body)
        if response.status != 200:
            return self.json(body, status=response.status)
        return self.json({"person_id": body["person_id"], "cohorts": body["cohorts"]})


@app.page("/persons/{project_id}/{distinct_id}/cohorts/{cohort_id}/why")
class PersonCohortWhy(View):
    """Why the distinct_id's person is in a cohort or not (``cohorts.explain``)."""

    async def get(
        self, request: Request, project_id: str, distinct_id: str, cohort_id: str
    ) -> Response:
        async def why(project: int, person_id: str) -> Response:
            path = f"/persons/{project}/by-id/{person_id}/cohorts/{cohort_id}/why"
            body, status = await fetch_json(_owner_of_person(project, person_id), path)
            return self.json(body, status=status)

        return await _by_person_of(self, request, project_id, distinct_id, why)


@app.page("/persons/{project_id}/by-id/{person_id}/cohorts/{cohort_id}/why")
class PersonByIdCohortWhy(View):
    async def get(
        self, request: Request, project_id: str, person_id: str, cohort_id: str
    ) -> Response:
        project = _project(project_id)
        if project is None:
            return self.json({"error": "project_id must be a positive integer"}, status=400)
        owner = _owner_of_person(project, person_id)
        if not is_me(owner):
            body, status = await fetch_json(owner, request.url.path)
            return self.json(body, status=status)
        state, status = live_person(project, person_id)
        if state is None:
            return self.json({"error": _MISSING[status].format(person_id)}, status=status)
        if "forward" in state:  # merged into a person held elsewhere
            forward = state["forward"]
            body, status = await fetch_json(
                _owner_of_person(project, forward),
                f"/persons/{project}/by-id/{forward}/cohorts/{cohort_id}/why",
            )
            return self.json(body, status=status)
        body, status = why_answer(
            state, cohorts.registry.project(project), cohort_id, int(time.time())
        )
        return self.json(body, status=status)


@app.page("/persons/{project_id}/by-id/{person_id}")
class PersonById(View):
    async def get(self, request: Request, project_id: str, person_id: str) -> Response:
        project = _project(project_id)
        if project is None:
            return self.json({"error": "project_id must be a positive integer"}, status=400)
        owner = _owner_of_person(project, person_id)
        if not is_me(owner):
            body, status = await fetch_json(owner, request.url.path)
            return self.json(body, status=status)
        body, status = person_answer(project, person_id)
        return self.json(body, status=status)


def person_answer(project: int, person_id: str) -> tuple[dict[str, Any], int]:
    """The live person, following merges held on this worker; a merge into a person
    held elsewhere answers with where to look."""
    state, status = live_person(project, person_id)
    if state is None:
        return {"error": _MISSING[status].format(person_id)}, status
    if "forward" in state:
        forward = state["forward"]
        return {"merged_into": forward, "see": f"/persons/{project}/by-id/{forward}"}, 409
    return public_view(state), 200


def live_person(project: int, person_id: str) -> tuple[PersonState | None, int]:
    """The person's state, following merges held on this worker: live, or the
    tombstone whose forward is held elsewhere; None and a status otherwise."""
    for _ in range(MAX_FORWARDS):
        state = persons.get(person_key(project, person_id))
        if state is None or state.get("deleted"):
            return None, 404
        if "forward" not in state or not is_me(_owner_of_person(project, state["forward"])):
            return state, 200
        person_id = state["forward"]
    return None, 500


def _owner_of_person(project: int, person_id: str) -> str:
    return owner_of(person_commands_topic.get_topic_name(), person_key(project, person_id))


def owner_of(topic: str, key: str) -> str:
    """The URL of the worker consuming ``key``'s partition of ``topic``. Computed here:
    Faust's router asks the producer, whose metadata may not know the topic yet."""
    partition = partition_for(key, settings.topic_partitions)
    for host, topics in app.router.external_topics_metadata().items():
        if partition in topics.get(topic, ()):
            return str(host)
    return str(app.conf.canonical_url)  # mid-rebalance: answer from here


async def fetch_json(owner: str, path: str) -> tuple[Any, int]:
    """The owning worker's answer to ``path``."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(owner.rstrip("/") + path) as response,
    ):
        return await response.json(), response.status


def is_me(url: str) -> bool:
    return url.rstrip("/") == str(app.conf.canonical_url).rstrip("/")
