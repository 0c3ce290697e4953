"""Redis Streams -> events topic against the real redis-server and broker."""

from __future__ import annotations

import uuid

import orjson
import pytest
import redis.asyncio as redis
from aiokafka import AIOKafkaProducer

from cohortstream.bridge.redis_stream import KafkaRecordSink, bridge
from cohortstream.streams.admin import ensure_topics, read_topic
from cohortstream.streams.records import DLQ_REASON

pytestmark = pytest.mark.integration


class FlakySink:
    """Fails the first send_all, as a broker outage would."""

    def __init__(self, real: KafkaRecordSink) -> None:
        self.real = real
        self.failures_left = 1

    async def send_all(self, records):
        if self.failures_left:
            self.failures_left -= 1
            raise ConnectionError("broker unavailable")
        await self.real.send_all(records)


@pytest.fixture()
async def clients(stack):
    await ensure_topics(stack)
    client = redis.from_url(stack.redis_url)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_broker, acks="all")
    await producer.start()
    yield client, producer
    await producer.stop()
    await client.aclose()


async def test_entries_reach_the_topic_and_are_acked_only_after_the_broker_has_them(
    stack, clients, project_id
):
    client, producer = clients
    stream = f"test:{uuid.uuid4().hex}"
    payloads = [
        {"event": "e", "distinct_id": f"d{i}", "project_id": project_id, "uuid": str(uuid.uuid4())}
        for i in range(300)
    ]
    for payload in payloads:
        await client.xadd(stream, {"data": orjson.dumps(payload)})
    await client.xadd(stream, {"garbage": "no data field"})

    sink = FlakySink(KafkaRecordSink(producer))
    with pytest.raises(ConnectionError):
        await bridge(
            client,
            sink,
            events_topic=stack.events_topic,
            dlq_topic=stack.dead_letter_topic,
            stream=stream,
            group="g",
            consumer="c1",
            stop_when_idle=True,
            block_ms=200,
        )
    pending = await client.xpending(stream, "g")
    assert pending["pending"] == 301  # read, not acknowledged: nothing lost

    stats = await bridge(
        client,
        sink,
        events_topic=stack.events_topic,
        dlq_topic=stack.dead_letter_topic,
        stream=stream,
        group="g",
        consumer="c1",
        stop_when_idle=True,
        block_ms=200,
    )
    assert (stats.bridged, stats.dead_lettered, stats.reclaimed) == (300, 1, 301)
    assert (await client.xpending(stream, "g"))["pending"] == 0

    records = await read_topic(stack, stack.events_topic)
    wanted = {p["uuid"]: p for p in payloads}
    found = {}
    for record in records:
        try:
            value = orjson.loads(record.value)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict) and value.get("uuid") in wanted:
            found[value["uuid"]] = record
    assert set(found) == set(wanted)
    for uuid_, record in found.items():
        payload = wanted[uuid_]
        assert record.key == f"{project_id}:{payload['distinct_id']}".encode()
    letters = [
        r
        for r in await read_topic(stack, stack.dead_letter_topic)
        if dict(r.headers).get(DLQ_REASON) == b"invalid_stream_entry"
        and stream.encode() in dict(r.headers).get("cohortstream.source", b"")
    ]
    assert len(letters) == 1
    assert orjson.loads(letters[0].value) == {"garbage": "no data field"}


async def test_idle_entries_of_a_dead_consumer_are_claimed(stack, clients, project_id, monkeypatch):
    client, producer = clients
    stream = f"test:{uuid.uuid4().hex}"
    await client.xgroup_create(stream, "g", id="0", mkstream=True)
    await client.xadd(
        stream, {"data": orjson.dumps({"event": "e", "distinct_id": "x", "project_id": project_id})}
    )
    await client.xreadgroup("g", "dead-consumer", {stream: ">"}, count=10)  # then it "died"
    monkeypatch.setattr("cohortstream.bridge.redis_stream.CLAIM_IDLE_MS", 0)
    stats = await bridge(
        client,
        KafkaRecordSink(producer),
        events_topic=stack.events_topic,
        dlq_topic=stack.dead_letter_topic,
        stream=stream,
        group="g",
        consumer="alive",
        stop_when_idle=True,
        block_ms=200,
    )
    assert (stats.bridged, stats.reclaimed) == (1, 1)
    assert (await client.xpending(stream, "g"))["pending"] == 0
