"""A cohort timer outlives its worker: the deadline is in the persons table, and a
new worker rebuilds its timer index from the changelog and fires it."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest

from cohortstream.cli.producer import EventProducer
from cohortstream.sinks.connect import open_warehouse
from cohortstream.streams.admin import ensure_topics

from .conftest import Workers, apply_cohort
from .test_cohorts import wait_until_live

pytestmark = pytest.mark.integration

WINDOW_S = 20


async def test_a_timer_set_before_a_sigkill_fires_on_the_next_worker(own_stack, tmp_path):
    stack, _ = own_stack
    workers = Workers(stack, tmp_path)
    warehouse = open_warehouse(stack)
    try:
        await _timer_survives(stack, workers, warehouse, tmp_path)
    finally:
        workers.stop_all()
        await warehouse.close()


async def _timer_survives(stack, workers, warehouse, tmp_path):
    definition = {
        "id": "recent-login",
        "project_id": 1,
        "name": "Logged in within 20 s",
        "criteria": {"type": "event", "event": "login", "check": "exists", "within": "20s"},
    }
    apply_cohort(stack, tmp_path, definition)
    await ensure_topics(stack)
    first = workers.start(env={"TABLE_STORE": "rocksdb"})
    async with aiohttp.ClientSession() as session:
        web = f"http://127.0.0.1:{workers.web_ports[0]}"
        await wait_until_live(session, web, 1, definition["id"], workers, timeout_s=120)
    login = orjson.dumps({"event": "login", "distinct_id": "u", "project_id": 1})
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        await producer.send(login, b"1:u")
    [entered] = await wait_for_transitions(warehouse, 1, workers, timeout_s=60)
    assert (entered["kind"], entered["source"]) == ("entered", "event")
    await asyncio.sleep(2)  # the table write of that step reaches its changelog
    workers.kill(first)  # the timer (due in ~18 s) dies with its worker ...
    # ... and the next worker, on the same disk, must fire it from its recovered table
    workers.start(tables_of=0, env={"TABLE_STORE": "rocksdb"})
    rows = await wait_for_transitions(warehouse, 2, workers, timeout_s=180)
    left = rows[1]
    assert (left["kind"], left["source"], left["entry_count"]) == ("left", "timer", 1)
    # At the deadline to the second (the login left the window), however late it ran.
    assert left["at"] - entered["at"] == WINDOW_S


async def wait_for_transitions(warehouse, count, workers, timeout_s):
    deadline = time.monotonic() + timeout_s
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = await warehouse.query_rows(
            "SELECT kind, source, entry_count, toUnixTimestamp(at) AS at "
            "FROM cohort_transitions FINAL WHERE project_id = 1 ORDER BY at, kind DESC"
        )
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.3)
    raise AssertionError(f"{rows}\n{workers.logs()}")
