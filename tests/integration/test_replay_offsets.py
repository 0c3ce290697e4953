"""``cohortstream replay`` on the real broker: offsets move to the earliest, an
offset or a time, never under an active member; events replayed through the
worker and its sinks are stored once."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cohortstream.cli.producer import EventProducer
from cohortstream.streams.admin import ensure_topics
from cohortstream.streams.app import ENRICHED_TOPIC

from .conftest import run_cli, wait_for_count
from .kafka_io import TopicTail

pytestmark = pytest.mark.integration

T0_MS = 1_700_000_000_000  # one record a second from here, alternating partitions


async def _topic_consumed_by_a_group(stack, topic, group):
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_broker)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 2, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_broker)
    await producer.start()
    for i in range(20):
        await producer.send_and_wait(
            topic, b"%d" % i, partition=i % 2, timestamp_ms=T0_MS + i * 1000
        )
    await producer.stop()
    # Read and committed without joining (tansu keeps a stopped aiokafka member
    # for a long while, and a group with members cannot be reset).
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_broker, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    consumer.assign([TopicPartition(topic, p) for p in (0, 1)])
    await consumer.seek_to_beginning()
    seen = 0
    while seen < 20:
        seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=500)).values())
    await consumer.commit()
    await consumer.stop()


def _member(stack, topic, group):
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=stack.kafka_broker,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
    )


async def _committed(stack, topic, group):
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_broker, group_id=group)
    await consumer.start()
    try:
        return [await consumer.committed(TopicPartition(topic, p)) for p in (0, 1)]
    finally:
        await consumer.stop()


async def test_offsets_move_to_the_earliest_an_offset_or_a_time(stack):
    topic, group = f"replay-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    await _topic_consumed_by_a_group(stack, topic, group)
    assert await _committed(stack, topic, group) == [10, 10]

    def replay(*target):
        result = run_cli(stack, "replay", "--topic", topic, "--group", group, *target, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "group" in replay("--to-earliest")
    assert await _committed(stack, topic, group) == [0, 0]
    replay("--to-offset", "7", "--partitions", "1")
    assert await _committed(stack, topic, group) == [0, 7]
    # 10.5 s after T0: records 11.. (partition 1: offset 5 = record 11; partition 0: record 12)
    at = datetime.fromtimestamp(T0_MS / 1000 + 10.5, UTC).isoformat()
    replay("--to-time", at)
    assert await _committed(stack, topic, group) == [6, 5]
    replay("--to-offset", "99")  # past the end: the end
    assert await _committed(stack, topic, group) == [10, 10]

    refused = run_cli(stack, "replay", "--topic", topic, "--group", group, "--to-time", "noon")
    assert refused.returncode != 0 and "--to-time" in refused.stderr
    missing = run_cli(stack, "replay", "--topic", "no-such", "--group", group, "--to-earliest")
    assert missing.returncode != 0 and "no topic 'no-such'" in missing.stderr


async def test_nothing_moves_while_the_group_has_an_active_member(stack):
    topic, group = f"replay-{uuid.uuid4().hex[:8]}", f"group-{uuid.uuid4().hex[:8]}"
    await _topic_consumed_by_a_group(stack, topic, group)
    active = _member(stack, topic, group)
    await active.start()
    stop = asyncio.Event()

    async def consume():
        while not stop.is_set():
            await active.getmany(timeout_ms=200)

    consuming = asyncio.create_task(consume())
    try:
        while not active.assignment():
            await asyncio.sleep(0.2)
        result = await asyncio.to_thread(
            run_cli,
            stack,
            *("replay", "--topic", topic, "--group", group, "--to-earliest", "--wait-s", "3"),
        )
    finally:
        stop.set()
        await consuming
        await active.stop()
    assert result.returncode != 0 and "1 active member(s)" in result.stderr, result.stderr
    assert await _committed(stack, topic, group) == [10, 10]


async def test_events_replayed_through_the_sinks_are_stored_once(
    stack, workers, warehouse, project_id
):
    await ensure_topics(stack)
    workers.start()
    before = datetime.now(UTC)
    events = [
        {
            "event": "replayed",
            "distinct_id": f"r{i % 7}",
            "project_id": project_id,
            "uuid": str(uuid.uuid4()),
        }
        for i in range(200)
    ]
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for event in events:
            await producer.send(
                orjson.dumps(event), f"{project_id}:{event['distinct_id']}".encode()
            )
    stored = f"SELECT count() AS n FROM events FINAL WHERE project_id = {project_id}"
    await wait_for_count(warehouse, stored, 200, 90, workers)
    workers.stop_all()
    result = run_cli(
        stack,
        "replay",
        "--topic",
        stack.events_topic,
        "--group",
        "cohortstream",
        "--to-time",
        before.isoformat(),
        "--wait-s",
        "30",
        "--evict-stale",  # tansu may keep the stopped worker as a member
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    async with TopicTail(stack, ENRICHED_TOPIC) as tail:
        workers.start()
        deadline = time.monotonic() + 90
        again: set[str] = set()
        while time.monotonic() < deadline and len(again) < 200:
            records = await tail.wait_for(lambda r: True, 10**9, timeout_s=1)
            again = {
                e["uuid"]
                for r in records
                for e in orjson.loads(r.value)
                if e["project_id"] == project_id
            }
    assert again == {e["uuid"] for e in events}, workers.logs()  # all reprocessed
    await asyncio.sleep(2)  # the sink flushes every second in tests
    once = await warehouse.query_rows(
        "SELECT count() AS n, uniqExact(uuid) AS u FROM events FINAL "
        f"WHERE project_id = {project_id}"
    )
    assert once == [{"n": 200, "u": 200}]
