"""Producing to and reading from the real broker in tests."""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from cohortstream.settings import Settings


async def read_topic(settings: Settings, topic: str, timeout_s: float = 10.0) -> list:
    """Every record of ``topic`` from the beginning (no consumer group)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_broker,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"test-reader-{uuid.uuid4()}",
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        await consumer.topics()  # loads metadata, so partitions_for_topic knows the topic
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        records = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in partitions]
            if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
        return records
    finally:
        await consumer.stop()
