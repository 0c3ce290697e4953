"""Persons on the real stack with two workers: tables, PostgreSQL, ClickHouse and the
web view all agree with the sequential oracle."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import orjson
import pytest

from cohortstream.cli.producer import EventProducer
from cohortstream.oracle.persons import PersonsOracle
from cohortstream.sinks.connect import open_warehouse
from cohortstream.streams.admin import ensure_topics

from ..unit.tables.workload import identity_workload
from .conftest import Workers

pytestmark = pytest.mark.integration

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def capture_payload(event: dict) -> dict:
    return {
        "uuid": event["uuid"],
        "event": event["event"],
        "distinct_id": event["distinct_id"],
        "project_id": event["project_id"],
        "properties": event["properties"],
        "timestamp": (_EPOCH + timedelta(microseconds=event["timestamp_us"])).isoformat(),
    }


async def postgres_persons(connection, project_id: int) -> dict[frozenset, dict]:
    rows = await connection.fetch(
        """SELECT p.id::text AS id, p.properties::text AS properties, p.is_identified,
                  array_agg(d.distinct_id) AS dids
           FROM persons p JOIN person_distinct_ids d
             ON d.project_id = p.project_id AND d.person_id = p.id
           WHERE p.project_id = $1 GROUP BY p.id, p.properties, p.is_identified""",
        project_id,
    )
    return {
        frozenset(r["dids"]): {
            "id": r["id"],
            "properties": orjson.loads(r["properties"]),
            "is_identified": r["is_identified"],
        }
        for r in rows
    }


async def test_two_workers_end_with_the_oracles_persons_everywhere(own_stack, tmp_path):
    # A stack of its own: on the shared one, after other tests' workers had used the
    # consumer group, two runs in three ended with a distinct_id in the wrong person
    # in PostgreSQL (open: see README, Known limits).
    stack, _ = own_stack
    project_id = 1
    workers = Workers(stack, tmp_path)
    warehouse = open_warehouse(stack)
    try:
        await _two_workers_end_with_the_oracles_persons(stack, workers, warehouse, project_id)
    finally:
        workers.stop_all()
        await warehouse.close()


async def _two_workers_end_with_the_oracles_persons(stack, workers, warehouse, project_id):
    events = identity_workload(project_id, users=40, events=1500, project_id=project_id)
    oracle = PersonsOracle()
    for event in events:
        oracle.apply(event)
    expected = {frozenset(p.distinct_ids): p for p in oracle.persons(project_id)}

    await ensure_topics(stack)
    workers.start()
    workers.start()
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for event in events:
            key = f"{project_id}:{event['distinct_id']}".encode()
            await producer.send(orjson.dumps(capture_payload(event)), key)
        for event in events[:200]:  # redelivered input changes nothing
            key = f"{project_id}:{event['distinct_id']}".encode()
            await producer.send(orjson.dumps(capture_payload(event)), key)

    connection = await asyncpg.connect(stack.database_url)
    try:
        want = {g: (p.properties, p.is_identified) for g, p in expected.items()}
        deadline = time.monotonic() + 240
        stored: dict[frozenset, dict] = {}
        while time.monotonic() < deadline:  # until quiescent: groups, then their properties
            stored = await postgres_persons(connection, project_id)
            if {g: (r["properties"], r["is_identified"]) for g, r in stored.items()} == want:
                break
            await asyncio.sleep(1)
        missing = sorted(sorted(g) for g in set(expected) - set(stored))[:5]
        extra = sorted(sorted(g) for g in set(stored) - set(expected))[:5]
        if extra:
            why = await explain_divergence(
                connection, workers.web_ports[0], project_id, set(expected), stored
            )
            print(f"persons diverge:\n{why}\n{workers.logs()}")
        assert set(stored) == set(expected), f"missing {missing}\nextra {extra}"
        for group, person in expected.items():
            assert stored[group]["properties"] == person.properties, sorted(group)
            assert stored[group]["is_identified"] == person.is_identified, sorted(group)
    finally:
        await connection.close()
    person_of = {did: row["id"] for group, row in stored.items() for did in group}

    # ClickHouse: persons and distinct_ids (FINAL) match PostgreSQL.
    await asyncio.sleep(2.5)  # a sink flush interval
    ch_persons = await warehouse.query_rows(
        f"SELECT toString(id) AS id, properties FROM persons FINAL "
        f"WHERE project_id = {project_id} AND is_deleted = 0"
    )
    assert {r["id"] for r in ch_persons} == {row["id"] for row in stored.values()}
    ch_dids = await warehouse.query_rows(
        f"SELECT distinct_id, toString(person_id) AS person_id FROM person_distinct_ids FINAL "
        f"WHERE project_id = {project_id} AND is_deleted = 0"
    )
    assert {r["distinct_id"]: r["person_id"] for r in ch_dids} == person_of

    # Events keep the person known when processed; the overrides join gives today's person.
    resolved = await warehouse.query_rows(
        f"""SELECT e.distinct_id AS distinct_id,
                   toString(if(o.override_person_id != toUUID('{ZERO_UUID}'),
                               o.override_person_id, e.person_id)) AS person_id
            FROM events AS e
            LEFT JOIN (SELECT old_person_id, override_person_id
                       FROM person_distinct_id_overrides FINAL
                       WHERE project_id = {project_id}) AS o
              ON e.person_id = o.old_person_id
            WHERE e.project_id = {project_id}"""
    )
    assert len(resolved) >= len(events)
    wrong = [r for r in resolved if person_of[r["distinct_id"]] != r["person_id"]]
    assert wrong == []

    # The web view, asked on either worker, routes to the owners.
    async with aiohttp.ClientSession() as session:
        for index, did in enumerate(sorted(person_of)[:20]):
            port = workers.web_ports[index % 2]
            url = f"http://127.0.0.1:{port}/persons/{project_id}/{did}"
            async with session.get(url) as response:
                body = await response.json()
                assert response.status == 200, body
            assert body["person_id"] == person_of[did]
            group = next(g for g in expected if did in g)
            assert set(body["distinct_ids"]) == set(group)


async def test_a_restarted_worker_recovers_identities_and_persons_from_the_changelogs(
    stack, workers, project_id
):
    """Tables are rebuilt from their changelogs (tansu under-reports end offsets:
    recovery must still read every record)."""

    def payload(did: str, name: str, properties: dict, second: int) -> bytes:
        return orjson.dumps(
            {
                "event": name,
                "distinct_id": did,
                "project_id": project_id,
                "properties": properties,
                "timestamp": f"2026-03-01T10:{second // 60:02d}:{second % 60:02d}Z",
            }
        )

    users = 40
    await ensure_topics(stack)
    first = workers.start()
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for i in range(users):
            await producer.send(
                payload(f"anon-{i}", "$pageview", {"$set": {"a": i}}, 1),
                f"{project_id}:anon-{i}".encode(),
            )
            await producer.send(
                payload(f"user-{i}", "$identify", {"$anon_distinct_id": f"anon-{i}"}, 2),
                f"{project_id}:user-{i}".encode(),
            )
    port = workers.web_ports[0]

    async def person(session, did, port):
        async with session.get(f"http://127.0.0.1:{port}/persons/{project_id}/{did}") as response:
            return response.status, await response.json()

    async def wait_until(check, port, timeout=120):
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    answers = [await person(session, f"anon-{i}", port) for i in range(users)]
                    if all(check(status, body) for status, body in answers):
                        return answers
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(1)
        raise AssertionError(workers.logs())

    before = await wait_until(lambda s, b: s == 200 and len(b["distinct_ids"]) == 2, port)
    workers.kill(first)
    workers.start()
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for i in range(users):
            await producer.send(
                payload(f"anon-{i}", "$pageview", {"$set": {"b": i}}, 3),
                f"{project_id}:anon-{i}".encode(),
            )
    after = await wait_until(
        lambda s, b: s == 200 and b["properties"].get("b") is not None, workers.web_ports[1], 180
    )
    for (_, old), (_, new) in zip(before, after, strict=True):
        assert new["person_id"] == old["person_id"]
        assert new["distinct_ids"] == old["distinct_ids"]
        assert new["properties"]["a"] == old["properties"]["a"]


async def explain_divergence(
    connection, web_port: int, project_id: int, expected: set, stored: dict
) -> str:
    """What PostgreSQL and the workers' tables say of a few distinct_ids whose stored
    person differs from the oracle's: tells a lost sink write from a wrong state."""
    group_of = {did: group for group in stored for did in group}
    differing = sorted(did for group in expected for did in group if group_of.get(did) != group)
    lines = [f"{len(differing)} distinct_ids differ: {differing[:12]}"]
    async with aiohttp.ClientSession() as session:
        for did in differing[:4]:
            row = await connection.fetchrow(
                """SELECT d.person_id::text AS person_id, d.version,
                          p.version AS person_version, g.version AS deleted_version
                   FROM person_distinct_ids d
                   LEFT JOIN persons p ON p.project_id = d.project_id AND p.id = d.person_id
                   LEFT JOIN deleted_persons g
                     ON g.project_id = d.project_id AND g.id = d.person_id
                   WHERE d.project_id = $1 AND d.distinct_id = $2""",
                project_id,
                did,
            )
            lines.append(f"{did}: postgres {dict(row) if row else None}")
            base = f"http://127.0.0.1:{web_port}/persons/{project_id}"
            paths = [f"{base}/{did}"]
            if row:
                paths.append(f"{base}/by-id/{row['person_id']}")
            for url in paths:
                async with session.get(url) as response:
                    body = await response.json()
                if isinstance(body, dict) and "distinct_ids" in body:
                    body = {k: body[k] for k in ("person_id", "version") if k in body} | {
                        "n_distinct_ids": len(body["distinct_ids"]),
                        "has_it": did in body["distinct_ids"],
                    }
                lines.append(f"  {url.removeprefix(base)} -> {response.status} {body}")
    return "\n".join(lines)
