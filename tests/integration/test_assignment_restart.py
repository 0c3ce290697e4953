"""Assignment survives a SIGKILL mid-stream: every entrant assigned once, shares exact."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import asyncpg
import pytest

from cohortstream.agents.assignment import RULES_REFRESH_S
from cohortstream.streams.admin import ensure_topics

from .conftest import Workers, apply_cohort, wait_for_ok

pytestmark = pytest.mark.integration

ENTRANTS = 2000
BULK = 150  # above the synchronous limit: a background job


async def test_a_worker_killed_mid_stream_assigns_nobody_twice(own_stack, tmp_path):
    stack, _ = own_stack
    workers = Workers(stack, tmp_path, table_store="rocksdb")
    try:
        await _killed_mid_stream(stack, workers, tmp_path)
        await _bulk_job_in_the_background(stack, workers)
    finally:
        workers.stop_all()


async def _killed_mid_stream(stack, workers, tmp_path):
    cohort = {"id": "picked", "project_id": 1, "name": "Picked", "kind": "manual"}
    apply_cohort(stack, tmp_path, cohort)
    await ensure_topics(stack)
    first = workers.start()
    web = f"http://127.0.0.1:{workers.web_ports[0]}"
    async with aiohttp.ClientSession() as session:
        await wait_for_ok(f"{web}/owners/1", workers)
        for owner, capacity in (("ana", 3), ("ben", 1)):
            body = {"name": owner, "daily_capacity": capacity}
            async with session.put(f"{web}/owners/1/{owner}", json=body) as response:
                assert response.status == 200
        rule = {"strategy": "capacity_weighted", "owner_ids": ["ana", "ben"]}
        async with session.put(f"{web}/cohorts/1/picked/assignment", json=rule) as response:
            assert response.status == 200
        members = f"{web}/cohorts/1/picked/members"
        ids = [f"u{n}" for n in range(ENTRANTS)]
        async with session.post(members, json={"distinct_ids": ids}) as response:
            assert response.status == 202
    connection = await asyncpg.connect(stack.database_url)
    try:
        await _until(connection, lambda n: n > 0, workers)  # some assigned, most not yet
        workers.kill(first)
        at_kill = await connection.fetchval("SELECT count(*) FROM assignments")
        assert at_kill < ENTRANTS, "all were assigned before the kill: nothing was mid-stream"
        workers.start()
        await _until(connection, lambda n: n >= ENTRANTS, workers, timeout_s=180)
        await asyncio.sleep(3)  # anything doubled would land by now
        rows = await connection.fetch("SELECT person_id, owner_id, status FROM assignments")
    finally:
        await connection.close()
    assert len(rows) == ENTRANTS
    assert len({row["person_id"] for row in rows}) == ENTRANTS
    assert {row["status"] for row in rows} == {"assigned"}
    # The person actor repeats its last batch's transitions after the kill (same
    # keys, new offsets): they must not move the rotation either.
    assert Counter(row["owner_id"] for row in rows) == {"ana": 1500, "ben": 500}


async def _bulk_job_in_the_background(stack, workers):
    """Members from before the rule, too many to answer at once: a job id, then
    progress until every one is assigned; owners removed meanwhile are skipped."""
    web = f"http://127.0.0.1:{workers.web_ports[-1]}"
    async with aiohttp.ClientSession() as session:
        await wait_for_ok(f"{web}/owners/1", workers)
        cohort = {"id": "earlier", "project_id": 1, "name": "Earlier", "kind": "manual"}
        async with session.post(f"{web}/cohorts", json=cohort) as response:
            assert response.status == 201, await response.text()
        members = f"{web}/cohorts/1/earlier/members"
        ids = [f"early{n}" for n in range(BULK)]
        async with session.post(members, json={"distinct_ids": ids}) as response:
            assert response.status == 202
        deadline = time.monotonic() + 60
        present: list[str] = []
        while time.monotonic() < deadline and len(present) < BULK:
            async with session.get(members, params={"limit": "1000"}) as response:
                present = (await response.json())["members"]
            await asyncio.sleep(0.3)
        assert len(present) == BULK, workers.logs()
        async with session.put(f"{web}/owners/1/cy", json={"name": "Cy"}) as response:
            assert response.status == 200
        rule = {"strategy": "round_robin", "owner_ids": ["ana", "cy", "ben"]}
        async with session.put(f"{web}/cohorts/1/earlier/assignment", json=rule) as response:
            assert response.status == 200
        async with session.delete(f"{web}/owners/1/cy") as response:
            assert response.status == 200
        async with session.delete(f"{web}/owners/1/cy") as response:
            assert response.status == 404
        await asyncio.sleep(RULES_REFRESH_S + 1)  # workers re-read owners this often
        async with session.post(f"{web}/cohorts/1/earlier/assign") as response:
            assert response.status == 202
            job = await response.json()
        deadline = time.monotonic() + 60
        progress: dict = {}
        while time.monotonic() < deadline and not progress.get("done"):
            async with session.get(f"{web}{job['progress']}") as response:
                progress = await response.json()
            await asyncio.sleep(0.3)
    assert (progress["total"], progress["assigned"], progress["failed"]) == (BULK, BULK, [])
    connection = await asyncpg.connect(stack.database_url)
    try:
        rows = await connection.fetch(
            "SELECT owner_id, count(*) AS n FROM assignments WHERE cohort_id = 'earlier'"
            " GROUP BY owner_id"
        )
    finally:
        await connection.close()
    assert {row["owner_id"]: row["n"] for row in rows} == {"ana": BULK // 2, "ben": BULK // 2}


async def _until(connection, done, workers, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = await connection.fetchval("SELECT count(*) FROM assignments")
        if done(count):
            return count
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} assignments\n{workers.logs()}")
