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

from typing import Any

import aiohttp
import orjson
from faust.exceptions import SameNode
from faust.web import Request, Response, View

from cohortstream.streams.app import app, events_topic, person_commands_topic
from cohortstream.tables.faust_tables import identities, persons
from cohortstream.tables.keys import identity_key, person_key
from cohortstream.tables.person_state import public_view

MAX_FORWARDS = 32


def _project(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


@app.page("/persons/{project_id}/{distinct_id}")
class PersonByDistinctId(View):
    async def get(self, request: Request, project_id: str, distinct_id: str) -> Response:
        project = _project(project_id)
        if project is None:
            return self.json({"error": "project_id must be a positive integer"}, status=400)
        key = identity_key(project, distinct_id)
        try:
            return await app.router.route_topic_req(events_topic, key, self.web, request)
        except SameNode:
            pass
        entry = identities.get(key)
        if entry is None or entry[0] is None:
            return self.json({"error": f"no person for distinct_id {distinct_id!r}"}, status=404)
        return await self._person(project, entry[0])

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

    async def _person(self, project: int, person_id: str) -> Response:
        url = _owner_of_person(project, person_id)
        path = f"/persons/{project}/by-id/{person_id}"
        if str(url).rstrip("/") == str(app.conf.canonical_url).rstrip("/"):
            body, status = person_answer(project, person_id)
            return self.json(body, status=status)
        async with (
            aiohttp.ClientSession() as session,
            session.get(str(url).rstrip("/") + path) as response,
        ):
            return self.json(await response.json(), status=response.status)


@app.page("/persons/{project_id}/by-id/{person_id}")
class PersonById(View):
    async def get(self, request: Request, project_id: str, person_id: str) -> Response:
        project = _project(project_id)
        if project is None:
            return self.json({"error": "project_id must be a positive integer"}, status=400)
        try:
            return await app.router.route_topic_req(
                person_commands_topic, person_key(project, person_id), self.web, request
            )
        except SameNode:
            pass
        body, status = person_answer(project, person_id)
        return self.json(body, status=status)


def person_answer(project: int, person_id: str) -> tuple[dict[str, Any], int]:
    """The live person, following merges held on this worker; a merge into a person
    held elsewhere answers with where to look."""
    for _ in range(MAX_FORWARDS):
        state = persons.get(person_key(project, person_id))
        if state is None or state.get("deleted"):
            return {"error": f"no person {person_id}"}, 404
        if "forward" not in state:
            return public_view(state), 200
        forward = state["forward"]
        if str(_owner_of_person(project, forward)).rstrip("/") != str(
            app.conf.canonical_url
        ).rstrip("/"):
            return {"merged_into": forward, "see": f"/persons/{project}/by-id/{forward}"}, 409
        person_id = forward
    return {"error": "merge chain too long"}, 500


def _owner_of_person(project: int, person_id: str) -> Any:
    return app.router.external_topic_key_store(
        person_commands_topic, person_key(project, person_id)
    )
