"""``cohortstream bridge-redis``: run the Redis Streams bridge until stopped."""

from __future__ import annotations

import asyncio
import logging
import socket

import click
import redis.asyncio as redis
from aiokafka import AIOKafkaProducer

from cohortstream.bridge.redis_stream import BridgeStats, KafkaRecordSink, bridge
from cohortstream.retry import KAFKA_FOREVER
from cohortstream.settings import Settings
from cohortstream.streams.admin import ensure_topics
from cohortstream.streams.records import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


async def run_bridge(settings: Settings, stream: str, group: str, consumer: str | None) -> None:
    name = consumer or f"{socket.gethostname()}-bridge"
    await ensure_topics(settings)
    client = redis.from_url(settings.redis_url)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_broker,
        acks="all",
        linger_ms=5,
        max_request_size=MAX_MESSAGE_BYTES,
    )
    await producer.start()
    click.echo(
        f"bridging redis stream {stream!r} (group {group!r}, consumer {name!r}) "
        f"to {settings.events_topic}"
    )

    def report(stats: BridgeStats) -> None:
        click.echo(
            f"  bridged {stats.bridged}, dead-lettered {stats.dead_lettered}, "
            f"reclaimed {stats.reclaimed}"
        )

    failures = 0
    try:
        while True:
            try:
                await bridge(
                    client,
                    KafkaRecordSink(producer),
                    events_topic=settings.events_topic,
                    dlq_topic=settings.dead_letter_topic,
                    stream=stream,
                    group=group,
                    consumer=name,
                    on_batch=report,
                )
            except (asyncio.CancelledError, KeyboardInterrupt):
                raise
            except Exception as exc:
                # Unacknowledged entries stay pending in Redis and are re-sent on the next pass.
                failures += 1
                wait = KAFKA_FOREVER.delay(failures)
                log.warning("bridge pass failed (%s); retrying in %.1fs", exc, wait)
                await asyncio.sleep(wait)
    finally:
        await producer.stop()
        await client.aclose()
