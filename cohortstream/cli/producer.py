"""Producing capture payloads to the ingestion topic, keyed as the workers expect."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from cohortstream.ingestion.keys import partition_key
from cohortstream.streams.records import MAX_MESSAGE_BYTES

IN_FLIGHT = 2000


def key_for_line(line: bytes) -> bytes | None:
    try:
        return partition_key(orjson.loads(line))
    except orjson.JSONDecodeError:
        return None


class EventProducer:
    """An aiokafka producer with bounded in-flight sends."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            linger_ms=5,
            max_request_size=MAX_MESSAGE_BYTES,
            acks="all",
        )
        self._pending: list[Any] = []

    async def __aenter__(self) -> EventProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        try:
            await self.flush()
        finally:
            await self._producer.stop()

    async def send(self, value: bytes, key: bytes | None) -> None:
        self._pending.append(await self._producer.send(self.topic, value, key=key))
        if len(self._pending) >= IN_FLIGHT:
            await self.flush()

    async def send_many(self, values: Iterable[tuple[bytes, bytes | None]]) -> int:
        count = 0
        for value, key in values:
            await self.send(value, key)
            count += 1
        return count

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for future in pending:
            await future  # raises if the broker refused the record
