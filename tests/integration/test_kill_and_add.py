"""Two workers; one is SIGKILLed mid-stream and a third joins. Every event is
stored once, persons equal the sequential oracle's, and the cohort's transitions
come out once each."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import asyncpg
import orjson
import pytest

from cohortstream.cli.producer import EventProducer
from cohortstream.oracle.persons import PersonsOracle
from cohortstream.streams.admin import ensure_topics

from ..unit.tables.workload import identity_workload
from .conftest import apply_cohort, until_all_consume, wait_for_count
from .test_cohorts import wait_until_live
from .test_persons import capture_payload, explain_divergence, postgres_persons

pytestmark = pytest.mark.integration

PROJECT = 1
COHORT = "signed-in"  # every person whose distinct_ids ever sent signed_in


async def test_a_killed_worker_and_a_new_one_lose_and_double_nothing(
    own_workers, own_warehouse, tmp_path
):
    stack, workers, warehouse = own_workers.settings, own_workers, own_warehouse
    events = identity_workload(11, users=60, events=6000, project_id=PROJECT)
    oracle = PersonsOracle()
    for event in events:
        oracle.apply(event)
    expected = {frozenset(p.distinct_ids): p for p in oracle.persons(PROJECT)}
    signed_in = {e["distinct_id"] for e in events if e["event"] == "signed_in"}
    cohort = {
        "id": COHORT,
        "project_id": PROJECT,
        "name": "Signed in",
        "criteria": {"type": "event", "event": "signed_in", "check": "exists"},
    }
    apply_cohort(stack, tmp_path, cohort)
    await ensure_topics(stack)
    doomed = workers.start()
    workers.start()
    async with aiohttp.ClientSession() as session:
        web = f"http://127.0.0.1:{workers.web_ports[0]}"
        await wait_until_live(session, web, PROJECT, COHORT, workers, timeout_s=120)
    await until_all_consume(workers, [0, 1])

    # Enough to still be in flight when the first rows show (sinks flush every second).
    first = 2 * len(events) // 3
    await _produce(stack, events[:first])
    stored = f"SELECT uniqExact(uuid) AS n FROM events WHERE project_id = {PROJECT}"
    await wait_for_count(warehouse, stored, 1, timeout_s=120, workers=workers, poll_s=0.05)
    workers.kill(doomed)  # mid-stream: some of its batches taken, not committed
    at_kill = int((await warehouse.query_rows(stored))[0]["n"])
    assert at_kill < first, "everything was stored before the kill: nothing was mid-stream"
    workers.start()
    await _produce(stack, events[first:] + events[:200])  # the rest, and a redelivery
    await until_all_consume(workers, [1, 2])

    connection = await asyncpg.connect(stack.database_url)
    try:
        want = {g: (p.properties, p.is_identified) for g, p in expected.items()}
        stored_persons: dict[frozenset, dict] = {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            stored_persons = await postgres_persons(connection, PROJECT)
            have = {g: (r["properties"], r["is_identified"]) for g, r in stored_persons.items()}
            if have == want:
                break
            await asyncio.sleep(1)
        missing = sorted(sorted(g) for g in set(expected) - set(stored_persons))[:5]
        extra = sorted(sorted(g) for g in set(stored_persons) - set(expected))[:5]
        if extra:
            why = await explain_divergence(
                connection, workers.web_ports[1], PROJECT, set(expected), stored_persons
            )
            print(f"persons diverge:\n{why}\n{workers.logs()}")
    finally:
        await connection.close()
    assert set(stored_persons) == set(expected), f"missing {missing}\nextra {extra}"
    for group, person in expected.items():
        assert stored_persons[group]["properties"] == person.properties, sorted(group)

    await wait_for_count(warehouse, stored, len(events), timeout_s=120, workers=workers)
    once = f"SELECT count() AS n FROM events FINAL WHERE project_id = {PROJECT}"
    assert (await warehouse.query_rows(once)) == [{"n": len(events)}]

    members = {r["id"] for g, r in stored_persons.items() if g & signed_in}
    in_cohort = (
        "SELECT countIf(is_member = 1) AS n FROM cohort_members FINAL "
        f"WHERE project_id = {PROJECT} AND cohort_id = '{COHORT}'"
    )
    await wait_for_count(warehouse, in_cohort, len(members), timeout_s=60, workers=workers)
    await asyncio.sleep(3)  # a late duplicate would land by now
    rows = await warehouse.query_rows(
        "SELECT toString(person_id) AS person_id, kind, entry_count FROM cohort_transitions "
        f"FINAL WHERE project_id = {PROJECT} AND cohort_id = '{COHORT}'"
    )
    of_members = sorted((r["kind"], r["entry_count"]) for r in rows if r["person_id"] in members)
    # A member entered once and never left, whatever was redelivered after the kill.
    assert of_members == [("entered", 1)] * len(members), of_members[:10]
    member_rows = await warehouse.query_rows(
        "SELECT toString(person_id) AS person_id FROM cohort_members FINAL "
        f"WHERE project_id = {PROJECT} AND cohort_id = '{COHORT}' AND is_member = 1"
    )
    assert {r["person_id"] for r in member_rows} == members


async def _produce(stack, events):
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for event in events:
            key = f"{PROJECT}:{event['distinct_id']}".encode()
            await producer.send(orjson.dumps(capture_payload(event)), key)
