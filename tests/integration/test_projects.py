"""Unknown projects are dead-lettered; registered later, their events replay into ClickHouse.
A distinct_id the project blocks is dead-lettered; one past its distinct_id limit is refused."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from cohortstream.cli.producer import EventProducer
from cohortstream.sinks.connect import open_warehouse
from cohortstream.streams.admin import ensure_topics
from cohortstream.streams.records import DLQ_REASON

from .conftest import Workers, run_cli, wait_for_count
from .kafka_io import TopicTail

pytestmark = pytest.mark.integration

UNREGISTERED = 424_242


async def test_unknown_project_dead_lettered_then_registered_and_replayed(own_stack, tmp_path):
    # A stack of its own: the shared one's dead-letter topic holds 100 MB of 2 MB letters
    # by now, which the replay would have to read through.
    stack, _ = own_stack
    workers = Workers(stack, tmp_path)
    warehouse = open_warehouse(stack)
    try:
        await _unknown_then_registered(stack, workers, warehouse)
    finally:
        workers.stop_all()
        await warehouse.close()


async def _unknown_then_registered(stack, workers, warehouse):
    await ensure_topics(stack)
    workers.start()
    events = [
        {
            "event": "e",
            "distinct_id": f"d{i}",
            "project_id": UNREGISTERED,
            "uuid": f"00000000-0000-4000-8000-{i:012d}",
        }
        for i in range(20)
    ]

    def unknown_project_letter(record) -> bool:
        return (
            dict(record.headers).get(DLQ_REASON) == b"unknown_project"
            and orjson.loads(record.value).get("project_id") == UNREGISTERED
        )

    async with TopicTail(stack, stack.dead_letter_topic) as tail:
        async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
            for event in events:
                key = f"{UNREGISTERED}:{event['distinct_id']}".encode()
                await producer.send(orjson.dumps(event), key)
        letters = await tail.wait_for(unknown_project_letter, 20, timeout_s=180)
    assert len(letters) == 20, workers.logs()

    result = run_cli(stack, "projects", "add", str(UNREGISTERED), "late project")
    assert result.returncode == 0, result.stderr
    await asyncio.sleep(6)  # one registry refresh in the worker

    replay = await asyncio.to_thread(
        run_cli, stack, "dlq", "replay", "--reason", "unknown_project", timeout=180
    )
    assert replay.returncode == 0, replay.stderr
    assert "unknown_project: " in replay.stdout
    await wait_for_count(
        warehouse,
        f"SELECT uniqExact(uuid) AS n FROM events WHERE project_id = {UNREGISTERED}",
        20,
        timeout_s=120,
        workers=workers,
    )
    await _blocked_distinct_id(stack, workers)
    await _distinct_id_limit(stack, workers, warehouse)


async def _blocked_distinct_id(stack, workers):
    """A distinct_id the project blocks is dead-lettered once workers have the rule."""
    blocked = run_cli(stack, "projects", "block", str(UNREGISTERED), "shared-login")
    assert blocked.returncode == 0, blocked.stderr
    assert "shared-login" in run_cli(stack, "projects", "list").stdout
    assert run_cli(stack, "projects", "block", "999999", "x").returncode != 0
    await asyncio.sleep(6)  # one registry refresh in the worker

    def blocked_letter(record) -> bool:
        return dict(record.headers).get(DLQ_REASON) == b"blocked_distinct_id"

    event = {"event": "e", "distinct_id": "shared-login", "project_id": UNREGISTERED}
    async with TopicTail(stack, stack.dead_letter_topic) as tail:
        async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
            await producer.send(orjson.dumps(event), f"{UNREGISTERED}:shared-login".encode())
        letters = await tail.wait_for(blocked_letter, 1, timeout_s=60)
    assert len(letters) == 1, workers.logs()


async def _distinct_id_limit(stack, workers, warehouse):
    """A person at the project's distinct_id limit refuses one more, with a warning,
    and that id's next event makes a person of its own."""
    limited = run_cli(stack, "projects", "limit", str(UNREGISTERED), "2")
    assert limited.returncode == 0, limited.stderr
    assert run_cli(stack, "projects", "limit", "999999", "2").returncode != 0
    assert run_cli(stack, "projects", "limit", str(UNREGISTERED), "0").returncode != 0
    await asyncio.sleep(6)  # one registry refresh in the worker
    sends = [
        ("lim-user", "$pageview", {}),
        ("lim-user", "$create_alias", {"alias": "lim-phone"}),
        ("lim-user", "$create_alias", {"alias": "lim-tablet"}),
    ]
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for distinct_id, name, properties in sends:
            event = {
                "event": name,
                "distinct_id": distinct_id,
                "project_id": UNREGISTERED,
                "properties": properties,
            }
            await producer.send(orjson.dumps(event), f"{UNREGISTERED}:{distinct_id}".encode())
            await asyncio.sleep(1)  # in order: the refusal is of the third id
    await wait_for_count(
        warehouse,
        "SELECT count() AS n FROM ingestion_warnings"
        f" WHERE project_id = {UNREGISTERED} AND code = 'cannot_attach_too_many_distinct_ids'",
        1,
        timeout_s=60,
        workers=workers,
    )
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        event = {"event": "$pageview", "distinct_id": "lim-tablet", "project_id": UNREGISTERED}
        await producer.send(orjson.dumps(event), f"{UNREGISTERED}:lim-tablet".encode())
    await wait_for_count(
        warehouse,
        "SELECT uniqExact(person_id) AS n FROM person_distinct_ids FINAL"
        f" WHERE project_id = {UNREGISTERED} AND distinct_id LIKE 'lim-%' AND NOT is_deleted",
        2,
        timeout_s=60,
        workers=workers,
    )
