"""SIGTERM with rows still buffered in a sink: written, committed, exit 0 at once.

Faust stops its timers before waiting for every taken message to be acked, and
a sink acks only when it writes: before CohortstreamApp's hook, this shutdown
waited until the shutdown bound killed it (exit 3), rows unwritten."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from cohortstream.cli.producer import EventProducer
from cohortstream.streams.admin import ensure_topics

from .conftest import Workers, wait_for_count, wait_for_ok

pytestmark = pytest.mark.integration

EVENTS = 300


async def test_sigterm_writes_what_the_sinks_hold_and_exits_at_once(
    stack, workers, warehouse, project_id
):
    await ensure_topics(stack)
    # The sink would hold its rows for two minutes: only the shutdown writes them.
    worker = workers.start(env={"SINK_FLUSH_SECONDS": "120", "SINK_BATCH_ROWS": "100000"})
    web = f"http://127.0.0.1:{workers.web_ports[-1]}"
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for n in range(EVENTS):
            event = {
                "event": "held",
                "distinct_id": f"h{n % 9}",
                "project_id": project_id,
                "uuid": str(uuid.uuid4()),
            }
            await producer.send(orjson.dumps(event), f"{project_id}:h{n % 9}".encode())
    await _until_accepted(web, EVENTS, workers)
    stored = f"SELECT uniqExact(uuid) AS n FROM events WHERE project_id = {project_id}"
    assert (await warehouse.query_rows(stored))[0]["n"] == 0  # still in the sink
    started = time.monotonic()
    status = workers.terminate(worker, timeout_s=60)
    took = time.monotonic() - started
    assert status == 0, workers.logs()
    assert took < 15, f"shutdown took {took:.1f} s"
    await wait_for_count(warehouse, stored, EVENTS, timeout_s=5, workers=workers)


async def _until_accepted(web, count, workers, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    accepted = 0.0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{web}/metrics") as response:
                    text = await response.text()
                accepted = next(
                    sample.value
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.name == "cohortstream_events_total"
                    and sample.labels == {"outcome": "accepted"}
                )
                if accepted >= count:
                    await asyncio.sleep(1)  # the sink agent takes what ingest sent on
                    return
            except (aiohttp.ClientConnectionError, StopIteration):
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"{accepted} accepted\n{workers.logs()}")


async def test_a_worker_first_in_its_group_leaves_it_on_sigterm(own_stack, tmp_path):
    """tansu numbers a group's first generation 0, where aiokafka would not send
    LeaveGroup: the dead member stayed until the next join rebalanced it away."""
    stack, _ = own_stack
    workers = Workers(stack, tmp_path)
    try:
        await ensure_topics(stack)
        worker = workers.start()
        await wait_for_ok(f"http://127.0.0.1:{workers.web_ports[-1]}/ready", workers)
        log = (tmp_path / "worker-0.log").read_text()
        assert "generation id 0 " in log, "not the group's first generation: proves nothing"
        assert workers.terminate(worker, timeout_s=60) == 0, workers.logs()
        assert await _group_members(stack.kafka_broker) == []
    finally:
        workers.stop_all()


async def _group_members(broker, group="cohortstream"):
    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
        return list(response.groups[0][5]) if response.groups else []
    finally:
        await admin.close()
