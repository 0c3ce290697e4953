"""Reading the real broker in tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from cohortstream.settings import Settings
from cohortstream.streams.admin import read_topic
from cohortstream.streams.records import MAX_MESSAGE_BYTES

__all__ = ["TopicTail", "read_topic"]


class TopicTail:
    """Records of a topic from (about) now on, without re-reading its history.

    tansu's end offsets stop at the last batch's base offset, so a few older
    records may appear: callers filter by content.
    """

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_broker,
            group_id=None,
            enable_auto_commit=False,
            client_id=f"test-tail-{uuid.uuid4()}",
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        )
        self.records: list[Any] = []

    async def __aenter__(self) -> TopicTail:
        await self.consumer.start()
        await self.consumer.topics()
        partitions = [
            TopicPartition(self.topic, p)
            for p in self.consumer.partitions_for_topic(self.topic) or []
        ]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.consumer.stop()

    async def wait_for(
        self, matching: Callable[[Any], bool], count: int, timeout_s: float
    ) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                self.records.extend(messages)
            found = [record for record in self.records if matching(record)]
            if len(found) >= count:
                return found
            await asyncio.sleep(0)
        return [record for record in self.records if matching(record)]
