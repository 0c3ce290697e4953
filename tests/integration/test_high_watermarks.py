"""tansu's end offsets fall short of the high watermark; the transport's probe does not."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.types import TP

from cohortstream.streams.transport import probe_high_watermarks

pytestmark = pytest.mark.integration


async def test_probed_high_watermark_counts_every_record_of_the_last_batch(stack):
    topic = f"hw-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_broker)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_broker, linger_ms=50)
    await producer.start()
    for _ in range(3):  # three record batches of 50
        for index in range(50):
            await producer.send(topic, b"x%d" % index, partition=0)
        await producer.flush()
    await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_broker, enable_auto_commit=False)
    await consumer.start()
    try:
        reported = (await consumer.end_offsets([TopicPartition(topic, 0)]))[
            TopicPartition(topic, 0)
        ]
    finally:
        await consumer.stop()
    probed = await probe_high_watermarks(stack.kafka_broker, {TP(topic, 0): reported})
    assert probed[TP(topic, 0)] == 150
    # What the probe corrects (if tansu ever fixes this, the probe is a no-op).
    assert reported <= 150
