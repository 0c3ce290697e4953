"""Workers come and go mid-stream: a second joins, the first leaves (SIGTERM). Each
event is stored once, and each buyer enters the cohort exactly once."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import orjson
import pytest

from cohortstream.cli.producer import EventProducer
from cohortstream.streams.admin import ensure_topics

from .conftest import apply_cohort, until_all_consume, wait_for_count
from .test_cohorts import wait_until_live

pytestmark = pytest.mark.integration

USERS = 600
BUYERS = range(0, USERS, 3)  # every third user buys once


def workload(project_id: int) -> list[dict]:
    events = []
    for round_ in range(3):
        for user in range(USERS):
            name = "purchase" if round_ == 1 and user in BUYERS else "$pageview"
            events.append(
                {
                    "event": name,
                    "distinct_id": f"user-{user}",
                    "project_id": project_id,
                    "uuid": str(uuid.uuid4()),
                }
            )
    return events


async def test_a_worker_joins_and_another_leaves_without_loss_or_duplicates(
    own_workers, own_warehouse, tmp_path
):
    await _join_then_leave(own_workers.settings, own_workers, own_warehouse, tmp_path)


async def _join_then_leave(stack, workers, warehouse, tmp_path):
    project_id = 1
    cohort = {
        "id": "buyers",
        "project_id": project_id,
        "name": "Bought",
        "criteria": {"type": "event", "event": "purchase", "check": "exists"},
    }
    apply_cohort(stack, tmp_path, cohort)
    await ensure_topics(stack)
    first = workers.start()
    async with aiohttp.ClientSession() as session:
        web = f"http://127.0.0.1:{workers.web_ports[0]}"
        await wait_until_live(session, web, project_id, "buyers", workers, timeout_s=120)
    events = workload(project_id)
    third = len(events) // 3
    stored = f"SELECT uniqExact(uuid) AS n FROM events WHERE project_id = {project_id}"

    async def produce(batch):
        async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
            for event in batch:
                key = f"{project_id}:{event['distinct_id']}".encode()
                await producer.send(orjson.dumps(event), key)

    await produce(events[:third])
    await wait_for_count(warehouse, stored, 1, timeout_s=120, workers=workers, poll_s=0.1)
    workers.start()  # joins mid-stream: partitions move to it
    await until_all_consume(workers, [0, 1])
    await produce(events[third : 2 * third])  # the purchases, shared by both
    await asyncio.sleep(2)
    assert workers.terminate(first, timeout_s=40) == 0  # leaves mid-stream
    await produce(events[2 * third :])

    await wait_for_count(warehouse, stored, len(events), timeout_s=300, workers=workers)
    entered = (
        "SELECT count() AS n FROM cohort_transitions FINAL "
        f"WHERE project_id = {project_id} AND cohort_id = 'buyers'"
    )
    await wait_for_count(warehouse, entered, len(BUYERS), timeout_s=120, workers=workers)
    await asyncio.sleep(3)  # a late duplicate would land by now
    rows = await warehouse.query_rows(
        "SELECT kind, entry_count, count() AS n, uniqExact(person_id) AS persons "
        f"FROM cohort_transitions FINAL WHERE project_id = {project_id} "
        "AND cohort_id = 'buyers' GROUP BY kind, entry_count"
    )
    assert rows == [{"kind": "entered", "entry_count": 1, "n": len(BUYERS), "persons": len(BUYERS)}]
    once = await warehouse.query_rows(
        f"SELECT count() AS n FROM events FINAL WHERE project_id = {project_id}"
    )
    assert once == [{"n": len(events)}]
    members = await warehouse.query_rows(
        "SELECT countIf(is_member = 1) AS n FROM cohort_members FINAL "
        f"WHERE project_id = {project_id} AND cohort_id = 'buyers'"
    )
    assert members == [{"n": len(BUYERS)}]
