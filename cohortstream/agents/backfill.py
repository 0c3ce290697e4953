"""The backfill job: materializes new cohort generations from the enriched topic.

Every worker looks for cohorts whose status is ``backfilling``; the one that
takes the cohort's Redis lock replays ``events_enriched`` from its earliest
retained offset up to the end offsets taken at the start, sends each past
occurrence of the cohort's events to the person actor (``backfill``), then an
``activate`` to every person partition, then marks the cohort live. A worker
that dies mid-way loses the lock's lease; another starts over (occurrences
count once, by event uuid). See ``cohorts.backfill`` for why this is silent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import redis.asyncio as redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from cohortstream.agents import cohorts, wiring
from cohortstream.cohorts.backfill import activate_command, backfill_commands, specs_of
from cohortstream.cohorts.definition import CohortDefinition, generation_of
from cohortstream.cohorts.store import (
    PendingBackfill,
    mark_backfilling,
    mark_live,
    pending_backfills,
)
from cohortstream.locks import LockHeld, redis_lock
from cohortstream.streams.app import ENRICHED_TOPIC, PERSON_COMMANDS_TOPIC, app, settings
from cohortstream.streams.publishers import publish_durably
from cohortstream.streams.transport import committed_offsets, probe_high_watermarks
from cohortstream.tables.commands import Outbox
from cohortstream.tables.faust_tables import activations
from cohortstream.tables.keys import partition_slot

log = logging.getLogger(__name__)

BACKFILL_CHECK_S = 2.0
LOCK_LEASE_S = 30.0
LOST_ACTIVATION_GRACE_S = 15.0


@app.timer(BACKFILL_CHECK_S)
async def run_pending_backfills() -> None:
    try:
        async with (await wiring.postgres.pool()).acquire() as connection:
            pending = await pending_backfills(connection)
            for project_id, cohort_id, generation in _lost_activations(pending):
                log.warning(
                    "cohort %s:%s is live but a partition here never activated it "
                    "(state lost with the changelog?): backfilling it again",
                    project_id,
                    cohort_id,
                )
                await mark_backfilling(connection, project_id, cohort_id, generation)
    except Exception as exc:
        log.warning("cannot read pending backfills: %s", exc)
        return
    if not pending:
        return
    client = redis.from_url(settings.redis_url)
    try:
        for job in pending:
            if job.age_s < cohorts.COHORTS_REFRESH_S + 1:
                # Every worker's registry must know the cohort before the replay's end
                # offsets are taken: events enriched after them are counted live.
                continue
            definition, generation = job.definition, job.generation
            name = f"cohortstream:backfill:{definition.project_id}:{definition.id}:{generation}"
            try:
                async with redis_lock(client, name, lease_s=LOCK_LEASE_S):
                    await backfill(definition, generation, job.since_us)
            except LockHeld:
                continue  # another worker has it
            except Exception:
                log.exception(
                    "backfill of cohort %s failed; retrying later",
                    definition.id,
                    extra={"project_id": definition.project_id, "cohort_id": definition.id},
                )
    finally:
        await client.aclose()


_missing_since: dict[tuple[int, str, str], float] = {}


def _lost_activations(pending: list[PendingBackfill]) -> list[tuple[int, str, str]]:
    """Live cohorts that a person partition held here has not activated although
    it has consumed everything sent to it (an activation is sent before its
    cohort is marked live, so it would have arrived), for a grace period.
    Checked only when the tables are recovered and no rebalance is under way."""
    if app.rebalancing or not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]
        _missing_since.clear()
        return []
    assigned = {
        tp.partition
        for tp in app.consumer.assignment()
        if tp.topic == PERSON_COMMANDS_TOPIC and _caught_up(tp)
    }
    waiting = {(j.definition.project_id, j.definition.id, j.generation) for j in pending}
    now = time.monotonic()
    missing = set()
    for definition in cohorts.registry.definitions():
        if definition.kind == "manual":
            continue
        wanted = (definition.project_id, definition.id, generation_of(definition))
        if wanted in waiting:
            continue
        slot_key = f"{definition.project_id}:{definition.id}"
        if any(
            (activations.get(partition_slot(p)) or {}).get(slot_key) != wanted[2] for p in assigned
        ):
            missing.add(wanted)
    for gone in set(_missing_since) - missing:
        del _missing_since[gone]
    lost = []
    for wanted in missing:
        since = _missing_since.setdefault(wanted, now)
        if now - since >= LOST_ACTIVATION_GRACE_S:
            lost.append(wanted)
            del _missing_since[wanted]
    return lost


def _caught_up(tp: Any) -> bool:
    highwater = app.consumer.highwater(tp)
    committed = committed_offsets(app.consumer).get(tp)
    return highwater is not None and committed is not None and committed >= highwater - 1


async def backfill(definition: CohortDefinition, generation: str, since_us: int = 0) -> int:
    """Replay history (events received from ``since_us``) for one generation;
    returns how many occurrences were sent."""
    started = time.monotonic()
    at = int(time.time())
    specs = specs_of(definition)
    sent = 0
    async for events in _history():
        outbox = Outbox()
        for event in events:
            if event.get("created_at_us", 0) >= since_us:
                outbox.person_commands.extend(
                    backfill_commands(event, definition, generation, specs, at)
                )
        sent += len(outbox.person_commands)
        await _send(outbox.person_batches(settings.topic_partitions))
    activate = activate_command(definition.project_id, definition.id, generation, int(time.time()))
    await _send({p: [activate] for p in range(settings.topic_partitions)})
    async with (await wiring.postgres.pool()).acquire() as connection:
        await mark_live(connection, definition.project_id, definition.id, generation)
    log.info(
        "cohort %s:%s materialized from %d past occurrences in %.1fs",
        definition.project_id,
        definition.id,
        sent,
        time.monotonic() - started,
    )
    return sent


async def _send(batches: dict[int, list[dict[str, Any]]]) -> None:
    for partition, commands in batches.items():
        await publish_durably(
            wiring.current.person_commands,
            None,
            orjson.dumps(commands),
            partition=partition,
            what="send backfill commands",
        )


async def _history() -> Any:
    """Every enriched event retained now, a decoded batch at a time."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_broker,
        enable_auto_commit=False,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(ENRICHED_TOPIC, p) for p in range(settings.topic_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        reported = await consumer.end_offsets(tps)
        end = await probe_high_watermarks(settings.kafka_broker, reported)
        remaining = {tp for tp in tps if end.get(tp, 0) > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=2000)
            for tp, records in batch.items():
                events: list[dict[str, Any]] = []
                for record in records:
                    if record.offset < end[tp]:
                        events.extend(_decoded(record.value))
                yield events
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


def _decoded(value: bytes | None) -> list[dict[str, Any]]:
    try:
        events = orjson.loads(value or b"[]")
    except orjson.JSONDecodeError:
        return []
    return [e for e in events if isinstance(e, dict)] if isinstance(events, list) else []
