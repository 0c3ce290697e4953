"""Topic administration, for producers that may run before any worker."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from cohortstream.settings import Settings
from cohortstream.streams.records import MAX_MESSAGE_BYTES


async def ensure_topics(settings: Settings, names: list[str] | None = None) -> None:
    """Create the ingestion and dead-letter topics (or ``names``) with the configured
    partition count.

    Producing first would otherwise let the broker auto-create them with its
    own default, and every stage relies on equal partition counts.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_broker)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
            for name in names or (settings.events_topic, settings.dead_letter_topic)
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                await admin.create_topics(wanted)
    finally:
        await admin.close()


async def read_topic(settings: Settings, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """Every record of ``topic`` so far (no consumer group, no commits).

    Reads past the reported end offsets until a poll comes back empty: tansu
    reports a partition's end as the base offset of its last batch, short of
    the real high watermark, so end offsets alone would miss records.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_broker,
        group_id=None,
        enable_auto_commit=False,
        client_id=f"cohortstream-reader-{uuid.uuid4()}",
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
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
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
            if not batch:
                positions = [await consumer.position(tp) for tp in partitions]
                if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                    break
        return records
    finally:
        await consumer.stop()
