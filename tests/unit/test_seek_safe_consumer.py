"""The consumer's fetch loop around a seek, against a scripted partition.

Recovery after every rebalance resumes the stream partitions, seeks them to the
committed offset, waits a few loop turns, clears the stream queues and resumes
the fetch loop. Every record at or above the committed offset must end up in
a queue after that clear, or it is never processed and the partition stalls
behind it. Faust's own consumer loses some (the second test pins that, so an
upgrade that fixes it shows up here); ours does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from cohortstream.streams import transport
from cohortstream.streams.app import app
from cohortstream.tables import faust_tables  # noqa: F401 - registers the tables and changelogs

PARTITION = TP("events", 0)
LOG_END = 40
COMMITTED = 10
FETCH_SIZE = 4


class ScriptedPartition:
    """A partition of LOG_END records read FETCH_SIZE at a time from ``position``."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.position = 25  # where the fetcher stood before the rebalance

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        # Faust's getmany: wait while the flow is stopped, stop yielding when it stops.
        if not self.consumer.flow_active:
            await self.consumer.can_resume_flow.wait()
        offsets = list(range(self.position, min(self.position + FETCH_SIZE, LOG_END)))
        self.position += len(offsets)
        if not offsets:
            await asyncio.sleep(0.001)
        for offset in offsets:
            if not self.consumer.flow_active:
                break
            yield PARTITION, SimpleNamespace(offset=offset, topic=PARTITION.topic)

    async def seek_to_committed(self) -> dict[TP, int]:
        await asyncio.sleep(0.002)  # the consumer thread's round trip
        self.position = COMMITTED
        return {PARTITION: COMMITTED}


async def _deliveries_after_recovery(consumer_class: type) -> list[int]:
    app.finalize()
    queue: list[int] = []
    recovery_started = asyncio.Event()

    async def deliver(message: Any) -> None:  # the conductor: into the stream's queue
        queue.append(message.offset)
        if message.offset == 27:
            recovery_started.set()

    consumer = consumer_class(
        app.transport,
        callback=deliver,
        on_partitions_revoked=None,
        on_partitions_assigned=None,
        loop=asyncio.get_running_loop(),
    )
    partition = ScriptedPartition(consumer)
    consumer.getmany = partition.getmany
    consumer.seek_to_committed = partition.seek_to_committed
    fetcher = SimpleNamespace(_stopped=asyncio.Event())
    drain = asyncio.ensure_future(consumer._drain_messages(fetcher))
    try:
        await asyncio.wait_for(recovery_started.wait(), 5)
        # Recovery._resume_streams: seek, a few loop turns, clear, resume.
        await consumer.perform_seek()
        for _ in range(5):
            await asyncio.sleep(0)
        queue.clear()
        consumer.resume_flow()
        for _ in range(1000):  # until the fetch loop has read to the end again
            if partition.position >= LOG_END:
                break
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)
    finally:
        fetcher._stopped.set()
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
    return queue


async def test_every_record_from_the_committed_offset_is_delivered_after_the_seek():
    queue = await _deliveries_after_recovery(transport.Consumer)
    assert set(range(COMMITTED, LOG_END)) <= set(queue)


async def test_faust_own_consumer_loses_records_fetched_around_the_seek():
    queue = await _deliveries_after_recovery(faust_aiokafka.Consumer)
    assert not set(range(COMMITTED, LOG_END)) <= set(queue)


class _ThreadStub:
    """The consumer thread: committed offsets as aiokafka reports them."""

    def __init__(self, committed: dict[TP, int | None]) -> None:
        self.committed = committed
        self.to_beginning: list[TP] = []

    async def seek_to_committed(self) -> dict[TP, int | None]:
        return self.committed

    async def seek_to_beginning(self, *partitions: TP) -> None:
        self.to_beginning += partitions


async def test_partitions_never_committed_are_read_from_their_start():
    app.finalize()

    async def deliver(message: Any) -> None:
        raise AssertionError("nothing is fetched here")

    consumer = transport.Consumer(
        app.transport,
        callback=deliver,
        on_partitions_revoked=None,
        on_partitions_assigned=None,
        loop=asyncio.get_running_loop(),
    )
    changelog = TP(next(iter(app.tables.changelog_topics)), 0)
    committed = {TP("events", 0): 10, TP("events", 1): None, TP("events", 2): 0, changelog: None}
    consumer._thread = _ThreadStub(committed)
    assert await consumer.seek_to_committed() == committed
    # aiokafka left these where the fetch loop stood; recovery's clear then dropped
    # what it had read. A changelog is recovery's own to position.
    assert sorted(consumer._thread.to_beginning) == [TP("events", 1), TP("events", 2)]
