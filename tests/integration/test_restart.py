"""A worker killed with SIGKILL mid-stream, or stopped with SIGTERM under load, loses
nothing and duplicates nothing visible."""

from __future__ import annotations

import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from cohortstream.cli.producer import EventProducer
from cohortstream.sinks.connect import open_warehouse
from cohortstream.streams.admin import ensure_topics

from .conftest import Workers, group_offsets, wait_for_count
from .test_pipeline import good_events, key_of

pytestmark = pytest.mark.integration

TOTAL = 40_000
BACKLOG = 30_000
AFTER_SIGTERM = 15_000
SHUTDOWN_BOUND_S = 30 + 10  # SHUTDOWN_TIMEOUT_S, and the interpreter's own exit


async def test_sigkill_or_sigterm_mid_stream_then_restart_keeps_exactly_the_produced_uuids(
    own_stack, tmp_path
):
    # A stack of its own: on the shared one, after other tests' workers, the
    # restarted worker once stopped short (38,125 of 40,000) - see README, Known limits.
    stack, _ = own_stack
    project_id = 1
    workers = Workers(stack, tmp_path, table_store="rocksdb")
    warehouse = open_warehouse(stack)
    try:
        await _sigkill_then_restart(stack, workers, warehouse, project_id)
    finally:
        workers.stop_all()
        await warehouse.close()


async def _sigkill_then_restart(stack, workers, warehouse, project_id):
    events = good_events(project_id, TOTAL, seed=project_id)
    await ensure_topics(stack)
    first = workers.start()
    count_sql = f"SELECT count() AS n FROM events WHERE project_id = {project_id}"

    async def produce(batch: list[dict]) -> None:
        async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
            for event in batch:
                await producer.send(orjson.dumps(event), key_of(event))

    # A backlog the first worker is still working through when it dies.
    # Killed at the first rows it writes: the rest of the backlog is in flight.
    await produce(events[:BACKLOG])
    await wait_for_count(warehouse, count_sql, 1, timeout_s=240, workers=workers, poll_s=0.05)
    workers.kill(first)
    landed = int((await warehouse.query_rows(count_sql))[0]["n"])
    assert landed < BACKLOG, "the backlog was done before the kill: nothing was mid-stream"
    at_kill = {p: c for p, (c, _) in (await group_offsets(stack, "events_enriched")).items()}
    second = workers.start()
    await produce(events[BACKLOG:])

    uuid_sql = f"SELECT uniqExact(uuid) AS n FROM events WHERE project_id = {project_id}"
    try:
        await wait_for_count(warehouse, uuid_sql, TOTAL, timeout_s=300, workers=workers)
    except AssertionError as failure:
        where = await where_missing(stack, warehouse, project_id, at_kill)
        raise AssertionError(f"{where}\nlanded at the kill: {landed}\n{failure}") from None
    await _assert_stored_once(warehouse, project_id, events)

    # SIGTERM under load: it finishes, flushes and commits what it took, exits 0 in
    # time, and the next worker takes the rest from the committed offsets.
    more = good_events(project_id, AFTER_SIGTERM, seed=project_id + 1000)
    for event in more:  # derived uuids could repeat the first batch's (same stamps)
        event["uuid"] = str(uuid.uuid4())
    await produce(more)
    await wait_for_count(warehouse, count_sql, TOTAL + 1, timeout_s=120, workers=workers)
    status = workers.terminate(second, timeout_s=SHUTDOWN_BOUND_S)
    # Exit 3 was the shutdown bound cutting a wait for acks that had deadlocked
    # (Faust swallowed the cancel of a wait_for around it; README, Known limits).
    assert status == 0, f"exit {status} (3: overran the shutdown bound)\n{workers.logs()}"
    landed = int((await warehouse.query_rows(uuid_sql))[0]["n"])
    assert landed < TOTAL + AFTER_SIGTERM, "nothing was in flight at the SIGTERM"
    workers.start()
    everything = events + more
    await wait_for_count(warehouse, uuid_sql, len(everything), timeout_s=300, workers=workers)
    await _assert_stored_once(warehouse, project_id, everything)


async def _assert_stored_once(warehouse, project_id, events):
    rows = await warehouse.query_rows(
        f"SELECT toString(uuid) AS uuid FROM events FINAL WHERE project_id = {project_id}"
    )
    stored = [row["uuid"] for row in rows]
    assert len(stored) == len(events)
    expected_with_client_uuid = {e["uuid"] for e in events if "uuid" in e}
    assert expected_with_client_uuid <= set(stored)
    assert len(set(stored)) == len(events)


async def where_missing(stack, warehouse, project_id, at_kill) -> str:
    """Which events_enriched messages hold the events ClickHouse lacks, against the
    offsets the killed worker had committed: below them, it committed before its
    sink wrote; at or above them, the next worker skipped them."""
    rows = await warehouse.query_rows(
        f"SELECT toString(uuid) AS uuid FROM events WHERE project_id = {project_id}"
    )
    stored = {row["uuid"] for row in rows}
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_broker, enable_auto_commit=False)
    await consumer.start()
    missing: dict[int, list[int]] = {}
    try:
        partitions = [TopicPartition("events_enriched", p) for p in range(8)]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for record in records:
                    lacking = [e for e in orjson.loads(record.value) if e["uuid"] not in stored]
                    if lacking:
                        missing.setdefault(tp.partition, []).append(record.offset)
    finally:
        await consumer.stop()
    return (
        "\n".join(
            f"events_enriched {p}: committed at the kill {at_kill.get(p)}, "
            f"messages with missing events at offsets {offsets[:3]}..{offsets[-3:]} "
            f"({len(offsets)})"
            for p, offsets in sorted(missing.items())
        )
        or "no events_enriched message holds a missing event (lost before it)"
    )
