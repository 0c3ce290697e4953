"""Redis Streams -> the events topic, acknowledged only after Kafka has the records.

For deployments whose capture API writes to Redis: each stream entry holds a
capture payload (single event, array or SDK batch) in its ``data`` field. The
bridge reads with a consumer group, produces every entry keyed as the workers
expect, waits for the broker's acknowledgements, and only then ``XACK``s. A
bridge that dies leaves its entries pending; on start it re-sends its own
pending entries and claims those other consumers left idle. Entries without a
``data`` field are dead-lettered (``invalid_stream_entry``) and acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from cohortstream.ingestion.keys import partition_key
from cohortstream.ingestion.outcomes import Rejected
from cohortstream.streams.dead_letters import dead_letter_headers

log = logging.getLogger(__name__)

DEFAULT_STREAM = "events:incoming"
DEFAULT_GROUP = "cohortstream-bridge"
CLAIM_IDLE_MS = 60_000


class RecordSink(Protocol):
    """Produces records and resolves once the broker acknowledged them all."""

    async def send_all(self, records: list[tuple[str, bytes | None, bytes, list[Any]]]) -> None:
        """(topic, key, value, headers) each; raises if any was not acknowledged."""


@dataclass
class BridgeStats:
    bridged: int = 0
    dead_lettered: int = 0
    reclaimed: int = 0


def to_records(
    entries: list[tuple[bytes, dict[bytes, bytes]]],
    events_topic: str,
    dlq_topic: str,
    stream: str,
) -> tuple[list[tuple[str, bytes | None, bytes, list[Any]]], int]:
    """Kafka records for stream entries; returns them and how many are dead letters."""
    records: list[tuple[str, bytes | None, bytes, list[Any]]] = []
    dead = 0
    for entry_id, fields in entries:
        data = fields.get(b"data")
        if data is None:
            rejected = Rejected(
                "invalid_stream_entry",
                "stream entry has no 'data' field",
                orjson.dumps(
                    {
                        k.decode(errors="replace"): v.decode(errors="replace")
                        for k, v in fields.items()
                    }
                ),
            )
            source = f"redis:{stream}/{entry_id.decode()}"
            records.append((dlq_topic, None, rejected.raw, dead_letter_headers(rejected, source)))
            dead += 1
            continue
        try:
            key = partition_key(orjson.loads(data))
        except orjson.JSONDecodeError:
            key = None  # the workers dead-letter it with invalid_json, bytes intact
        records.append((events_topic, key, data, []))
    return records, dead


async def bridge(
    redis_client: Any,
    sink: RecordSink,
    *,
    events_topic: str,
    dlq_topic: str,
    stream: str = DEFAULT_STREAM,
    group: str = DEFAULT_GROUP,
    consumer: str = "bridge-1",
    batch: int = 500,
    block_ms: int = 1000,
    stop_when_idle: bool = False,
    on_batch: Callable[[BridgeStats], Awaitable[None] | None] | None = None,
) -> BridgeStats:
    """Bridge until cancelled (or, with ``stop_when_idle``, until a read comes back empty)."""
    stats = BridgeStats()
    with contextlib.suppress(Exception):  # BUSYGROUP: the group exists already
        await redis_client.xgroup_create(stream, group, id="0", mkstream=True)

    async def forward(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        records, dead = to_records(entries, events_topic, dlq_topic, stream)
        await sink.send_all(records)  # raises unless the broker acknowledged every record
        await redis_client.xack(stream, group, *[entry_id for entry_id, _ in entries])
        stats.bridged += len(entries) - dead
        stats.dead_lettered += dead

    # Our own entries from a previous life first, then what dead consumers left idle.
    pending = await redis_client.xreadgroup(group, consumer, {stream: "0"}, count=batch)
    for _, entries in pending or []:
        if entries:
            stats.reclaimed += len(entries)
            await forward(entries)
    claimed = await redis_client.xautoclaim(
        stream, group, consumer, CLAIM_IDLE_MS, "0-0", count=batch
    )
    if claimed and claimed[1]:
        stats.reclaimed += len(claimed[1])
        await forward(claimed[1])

    while True:
        response = await redis_client.xreadgroup(
            group, consumer, {stream: ">"}, count=batch, block=block_ms
        )
        entries = [entry for _, stream_entries in response or [] for entry in stream_entries]
        if not entries:
            if stop_when_idle:
                return stats
            continue
        await forward(entries)
        if on_batch is not None:
            result = on_batch(stats)
            if asyncio.iscoroutine(result):
                await result


class KafkaRecordSink:
    """An aiokafka producer whose ``send_all`` waits for every acknowledgement."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer

    async def send_all(self, records: list[tuple[str, bytes | None, bytes, list[Any]]]) -> None:
        deliveries = [
            await self.producer.send(topic, value, key=key, headers=headers or None)
            for topic, key, value, headers in records
        ]
        await asyncio.gather(*deliveries)
