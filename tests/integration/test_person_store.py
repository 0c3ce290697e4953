"""The PostgreSQL person store: version-guarded batch writes and cold-start lookups."""

from __future__ import annotations

import uuid

import pytest

from cohortstream.sinks.person_store import PostgresPersonStore
from cohortstream.sinks.postgres import open_pool

pytestmark = pytest.mark.integration


def person(project, pid, version, deleted=False, **properties):
    return {
        "table": "persons",
        "project_id": project,
        "id": pid,
        "properties": properties,
        "is_identified": True,
        "created_at_us": 1_700_000_000_000_000,
        "version": version,
        "is_deleted": deleted,
    }


def mapping(project, did, pid, version, deleted=False):
    return {
        "table": "distinct_ids",
        "project_id": project,
        "distinct_id": did,
        "person_id": pid,
        "version": version,
        "is_deleted": deleted,
    }


async def test_rows_only_move_forward_and_cold_lookups_read_them_back(stack, project_id):
    pool = await open_pool(stack.database_url)
    store = PostgresPersonStore(pool)
    p1, p2 = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        await store.write(
            [person(project_id, p1, 3, plan="pro"), person(project_id, p2, 1)],
            [mapping(project_id, "a", p1, 0), mapping(project_id, "b", p2, 0)],
        )
        # Older versions (a redelivered or reordered batch) change nothing.
        await store.write(
            [person(project_id, p1, 2, plan="old")], [mapping(project_id, "a", p2, 0)]
        )
        # A merge: p2 is deleted and b moves to p1, in one batch.
        await store.write(
            [person(project_id, p2, 2, deleted=True), person(project_id, p1, 4, plan="max")],
            [mapping(project_id, "b", p1, 1)],
        )
        await store.write([person(project_id, p2, 1)], [])  # cannot resurrect

        found = await store.distinct_id_persons(
            [(project_id, "a"), (project_id, "b"), (project_id, "c")]
        )
        assert found == {(project_id, "a"): (p1, 0), (project_id, "b"): (p1, 1)}
        persons = await store.persons([(project_id, p1), (project_id, p2)])
        assert list(persons) == [(project_id, p1)]
        state = persons[(project_id, p1)]
        assert state["properties"] == {"plan": "max"}
        assert state["version"] == 4 and state["distinct_ids"] == {"a": 0, "b": 1}
        # Stored without stamps: the value counts as set before any event.
        assert state["set_at"] == {"plan": [0, "", "set"]}
        # With them (as the person stage writes): read back for event-time order.
        stamped = {"plan": [1_700_000_000_000_001, "e1", "once"], "tmp": [7, "e2", "unset"]}
        await store.write([{**person(project_id, p1, 5, plan="max"), "set_at": stamped}], [])
        state = (await store.persons([(project_id, p1)]))[(project_id, p1)]
        assert state["set_at"] == stamped and state["properties"] == {"plan": "max"}
        # Unlinking removes the mapping (a deleted person's distinct_ids).
        await store.write([], [mapping(project_id, "a", p1, 1, deleted=True)])
        assert await store.distinct_id_persons([(project_id, "a")]) == {}
    finally:
        await pool.close()
