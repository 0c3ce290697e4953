"""``cohortstream dlq replay``: dead letters back into the ingestion topic.

Only reasons that a retry can cure are replayed by default (a sink outage,
an internal error fixed since); input errors stay put unless named with
``--reason`` (say, after raising a limit). Progress is a consumer group per
set of reasons, so each dead letter is replayed once per set, and a Redis
lock keeps a second replayer out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from cohortstream.replay.breaker import CircuitBreaker
from cohortstream.settings import Settings
from cohortstream.streams.records import DLQ_REASON, MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

REPLAYABLE_BY_DEFAULT = (
    "clickhouse_insert_failed",
    "postgres_upsert_failed",
    "internal_error",
    "person_sink_failed",
)
# Dead letters that are not capture payloads go back where they came from.
TOPIC_OF_REASON = {"person_sink_failed": "person_changes"}
LOCK_NAME = "cohortstream:lock:dlq-replay"
REPLAYED_FROM = "cohortstream.replayed_from"
JOIN_TIMEOUT_S = 90.0


@dataclass
class ReplayReport:
    replayed: int = 0
    skipped: int = 0
    breaker_open: bool = False
    by_reason: dict[str, int] = field(default_factory=dict)


def group_for(reasons: tuple[str, ...]) -> str:
    return "cohortstream-dlq-replay." + "+".join(sorted(reasons))


def reason_of(record: ConsumerRecord) -> str:
    for name, value in record.headers or ():
        if name == DLQ_REASON:
            return bytes(value).decode()
    return ""


async def replay_dead_letters(
    settings: Settings,
    reasons: tuple[str, ...] = REPLAYABLE_BY_DEFAULT,
    *,
    follow: bool = False,
    breaker: CircuitBreaker | None = None,
    on_progress: Callable[[ReplayReport], None] | None = None,
) -> ReplayReport:
    """Re-produce matching dead letters (value and key as they were) to the events topic.

    Without ``follow`` it stops at the end offsets seen at start, or when the
    breaker opens (what was replayed so far is committed). A failed produce
    is retried through the breaker: 5 consecutive failures open it for 5 minutes.
    """
    breaker = breaker or CircuitBreaker()
    report = ReplayReport()
    consumer = AIOKafkaConsumer(
        settings.dead_letter_topic,
        bootstrap_servers=settings.kafka_broker,
        group_id=group_for(reasons),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        fetch_max_wait_ms=100,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_broker, acks="all", max_request_size=MAX_MESSAGE_BYTES
    )
    await consumer.start()
    await producer.start()
    try:
        end = await _end_offsets(consumer, settings.dead_letter_topic)
        join_deadline = time.monotonic() + JOIN_TIMEOUT_S
        while True:
            if not consumer.assignment() and any(end.values()) and time.monotonic() > join_deadline:
                raise RuntimeError(
                    f"no partitions of {settings.dead_letter_topic} assigned to replay group "
                    f"{group_for(reasons)} after {JOIN_TIMEOUT_S:.0f}s; is another replayer "
                    "without the lock in that group?"
                )
            batch = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batch.items():
                done = await _replay_records(
                    records, reasons, settings, producer, breaker, report, follow
                )
                if done is not None:
                    await consumer.commit({tp: done + 1})
                if report.breaker_open:
                    return report
            if on_progress is not None and batch:
                on_progress(report)
            # Only an empty poll past the end offsets means done (see read_topic on tansu).
            if not follow and not batch and await _caught_up(consumer, end):
                return report
    finally:
        await producer.stop()
        await consumer.stop()


async def _replay_records(
    records: list[ConsumerRecord],
    reasons: tuple[str, ...],
    settings: Settings,
    producer: AIOKafkaProducer,
    breaker: CircuitBreaker,
    report: ReplayReport,
    follow: bool,
) -> int | None:
    """Replay in order; returns the last offset handled (None if none was)."""
    last: int | None = None
    for record in records:
        reason = reason_of(record)
        if reason not in reasons:
            report.skipped += 1
            last = record.offset
            continue
        while True:
            if not breaker.allows():
                if not follow:
                    report.breaker_open = True
                    return last
                await asyncio.sleep(breaker.seconds_until_trial())
                continue
            try:
                await producer.send_and_wait(
                    TOPIC_OF_REASON.get(reason, settings.events_topic),
                    record.value,
                    key=record.key,
                    headers=[
                        (
                            REPLAYED_FROM,
                            f"{record.topic}/{record.partition}/{record.offset}".encode(),
                        )
                    ],
                )
            except Exception as exc:
                breaker.record_failure()
                log.warning(
                    "replay of %s/%s failed (%s): %s",
                    record.partition,
                    record.offset,
                    breaker.state.value,
                    exc,
                )
                continue
            breaker.record_success()
            break
        report.replayed += 1
        report.by_reason[reason] = report.by_reason.get(reason, 0) + 1
        last = record.offset
    return last


async def _end_offsets(consumer: AIOKafkaConsumer, topic: str) -> dict[TopicPartition, int]:
    partitions = consumer.partitions_for_topic(topic) or set()
    return await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])


async def _caught_up(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if offset and tp in consumer.assignment() and await consumer.position(tp) < offset:
            return False
    return bool(consumer.assignment()) or not any(end.values())
