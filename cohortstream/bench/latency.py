"""Latency at a paced rate: event -> row in ClickHouse, qualifying event ->
``cohort_transitions`` record, and timer lateness (record received - deadline).

Every paced event is a qualifying event of a new person for one cohort
("did bench_qualify within 10 s"), so each one causes an entry at once and a
timer-driven leave 10 s later: the leave's ``at`` is its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from cohortstream.bench.measure import (
    Messages,
    start_worker,
    stop_worker,
    warm_up,
)
from cohortstream.cli.cohorts import apply_file, wait_until_live
from cohortstream.cli.producer import EventProducer
from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse
from cohortstream.streams.admin import ensure_topics
from cohortstream.streams.app import COHORT_TRANSITIONS_TOPIC

WINDOW_S = 10
COHORT_ID = "bench-latency"
TICK_S = 0.02


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank p50/p95/p99 (``nan`` when there are none)."""
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99)}


def latency_cohort(project_id: int) -> dict[str, Any]:
    return {
        "id": COHORT_ID,
        "project_id": project_id,
        "name": "bench: qualified in the last 10 s",
        "criteria": {
            "type": "event",
            "event": "bench_qualify",
            "check": "exists",
            "within": f"{WINDOW_S}s",
        },
    }


async def measure_latency(
    settings: Settings, project_id: int, rate_per_s: float, seconds: float, log_dir: Path
) -> dict[str, Any]:
    """One worker, ``rate_per_s`` qualifying events for ``seconds``; percentiles in ms."""
    await apply_file(settings.database_url, latency_cohort(project_id))
    process, port = await start_worker(settings, log_dir / "bench-latency-worker.log")
    warehouse = open_warehouse(settings)
    transitions = await _transitions_from_now(settings)
    try:
        await warm_up(settings, warehouse, [port], project_id, 300)
        if not await wait_until_live(settings.database_url, project_id, [COHORT_ID], 300):
            raise RuntimeError(f"cohort {COHORT_ID} not live in 300 s")
        received: dict[tuple[str, str], tuple[float, int]] = {}
        expected = 2 * int(rate_per_s * seconds)  # an entry and a leave per person
        all_in = asyncio.Event()
        collector = asyncio.ensure_future(
            _collect(transitions, project_id, received, expected, all_in)
        )
        sent = await _paced(settings, project_id, rate_per_s, seconds)
        with contextlib.suppress(TimeoutError):  # what is missing shows as a smaller n
            await asyncio.wait_for(all_in.wait(), WINDOW_S + 60)
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        return await _summarise(warehouse, project_id, sent, received, rate_per_s, seconds)
    finally:
        await transitions.stop()
        await stop_worker(process, settings.shutdown_timeout_s)
        await warehouse.close()


async def _transitions_from_now(settings: Settings) -> AIOKafkaConsumer:
    # Before the worker creates it, the consumer's metadata request would have the
    # broker create it with its own partition count, and position() on a partition
    # beyond that waits for ever (a standalone latency run hung that way).
    await ensure_topics(settings, [COHORT_TRANSITIONS_TOPIC])
    # aiokafka's default fetch wait (500 ms) would be measured too: tansu holds fetches.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_broker, group_id=None, fetch_max_wait_ms=10
    )
    await consumer.start()
    partitions = [
        TopicPartition(COHORT_TRANSITIONS_TOPIC, p) for p in range(settings.topic_partitions)
    ]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:
        await consumer.position(partition)  # resolved now, not at the first fetch
    return consumer


async def _collect(
    consumer: AIOKafkaConsumer,
    project_id: int,
    received: dict[tuple[str, str], tuple[float, int]],
    expected: int,
    all_in: asyncio.Event,
) -> None:
    while True:
        batch = await consumer.getmany(timeout_ms=10)
        now = time.time()
        for records in batch.values():
            for record in records:
                transition = orjson.loads(record.value)
                if transition.get("project_id") == project_id:
                    key = (transition["person_id"], transition["kind"])
                    received.setdefault(key, (now, int(transition["at"])))
        if len(received) >= expected:
            all_in.set()


async def _paced(
    settings: Settings, project_id: int, rate_per_s: float, seconds: float
) -> dict[str, float]:
    """Qualifying events of new persons at ``rate_per_s``: person_id -> send time."""
    sent: dict[str, float] = {}
    total = int(rate_per_s * seconds)
    started = time.monotonic()
    async with EventProducer(settings.kafka_broker, settings.events_topic) as producer:
        for n in range(total):
            due = started + n / rate_per_s
            if due - time.monotonic() > TICK_S:
                await producer.flush()
                await asyncio.sleep(due - time.monotonic())
            distinct_id = f"latency-{n}"
            now = time.time()
            event = {
                "event": "bench_qualify",
                "distinct_id": distinct_id,
                "project_id": project_id,
                "timestamp": datetime.fromtimestamp(now, UTC).isoformat(),
                "properties": {"bench_sent_us": int(now * 1_000_000)},
            }
            await producer.send(orjson.dumps(event), f"{project_id}:{distinct_id}".encode())
            sent[person_id_for(project_id, distinct_id)] = now
    return sent


async def _summarise(
    warehouse: Any,
    project_id: int,
    sent: dict[str, float],
    received: dict[tuple[str, str], tuple[float, int]],
    rate_per_s: float,
    seconds: float,
) -> dict[str, Any]:
    to_transition = [
        (received[(person, "entered")][0] - at) * 1000
        for person, at in sent.items()
        if (person, "entered") in received
    ]
    lateness = [
        (got - deadline) * 1000
        for (person, kind), (got, deadline) in received.items()
        if kind == "left" and person in sent
    ]
    sql = (
        "SELECT (toUnixTimestamp64Micro(_inserted_at) - "  # noqa: S608 - ints only
        "JSONExtractUInt(properties, 'bench_sent_us')) / 1000 AS ms "
        f"FROM events WHERE project_id = {int(project_id)} AND event = 'bench_qualify'"
    )
    rows = await warehouse.query_rows(sql)
    to_row = [float(row["ms"]) for row in rows]
    return {
        "rate_per_s": rate_per_s,
        "seconds": seconds,
        "events": len(sent),
        "event_to_row_ms": {**percentiles(to_row), "n": len(to_row)},
        "event_to_transition_ms": {**percentiles(to_transition), "n": len(to_transition)},
        "timer_lateness_ms": {**percentiles(lateness), "n": len(lateness)},
    }


__all__ = ["Messages", "measure_latency", "percentiles"]
