"""Faust's aiokafka transport with a configurable fetch wait.

Faust builds its consumer with ``fetch_max_wait_ms=1500``. Kafka answers a
fetch as soon as data arrives, so that is only an idle bound there; tansu
(the local broker) holds every fetch for the full wait, which puts up to
1.5 s on each internal hop (measured: 450 ms median to see a new record at
1500 ms, 5 ms at 100 ms). Registered as the ``cohortstream://`` transport.

It also corrects end offsets. tansu answers ListOffsets(latest) with the
base offset of a partition's last record batch (+1), short of the real high
watermark (measured: 101 for 150 records in three batches of 50). Faust's
table recovery reads a changelog only up to that figure, so it would drop
the tail of the last batch: a worker taking over partitions lost table
writes. The high watermark a fetch response carries is right, so end offsets
are probed with one fetch from the reported end; against Kafka the probe
returns the same number it was given.

And it keeps records fetched around a seek from being lost (``Consumer``),
makes a worker leave its group on shutdown in the group's first
generation too (``leave_group_from_generation_zero``), and makes the
producer's flush wait for every table write (``FlushingProducerBuffer``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiokafka
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import LeaveGroupRequest
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.transport.producer import ProducerBuffer
from faust.types import TP, FutureMessage

log = logging.getLogger(__name__)

# Set by the app before the worker starts (settings.consumer_fetch_max_wait_ms).
fetch_max_wait_ms = 100


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka keeps the constructor argument here until start() builds its Fetcher.
        consumer._fetch_max_wait_ms = fetch_max_wait_ms
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        coordinator = getattr(self._consumer, "_coordinator", None)
        if coordinator is not None and hasattr(coordinator, "_maybe_leave_group"):
            leave_group_from_generation_zero(coordinator)

    async def _highwaters(self, partitions: list[TP]) -> Mapping[TP, int]:
        reported = await super()._highwaters(partitions)
        if self.consumer.in_transaction:
            return reported
        return await probe_high_watermarks(
            faust_aiokafka.server_list(self.transport.url, self.transport.default_port),  # type: ignore[attr-defined]
            reported,
        )


def leave_group_from_generation_zero(coordinator: Any) -> None:
    """Make ``coordinator`` send LeaveGroup on close once it has joined, at any generation.

    aiokafka leaves only when ``generation > 0``, taking 0 for "never joined";
    its "never joined" is -1. Kafka numbers a group's first generation 1, tansu
    numbers it 0, so a worker that was the first in its group never left it:
    the dead member stayed (measured: still there 40 s after a clean SIGTERM,
    with a 10 s session timeout) until the next join rebalanced it away, and
    a test starting a worker right after another's stop waited on it.
    """

    async def maybe_leave_group() -> None:
        if coordinator.generation >= 0 and coordinator._group_instance_id is None:
            request = LeaveGroupRequest(coordinator.group_id, coordinator.member_id)
            try:  # a best effort, as aiokafka's own: the session timeout is the backstop
                await coordinator._send_req(request)
            except KafkaError as exc:
                log.warning("LeaveGroup failed: %s", exc)
        coordinator.reset_generation()

    coordinator._maybe_leave_group = maybe_leave_group


async def probe_high_watermarks(
    bootstrap_servers: Any, reported: Mapping[TP, int]
) -> dict[TP, int]:
    """``reported`` end offsets raised to the high watermarks a fetch sees."""
    corrected = dict(reported)
    nonempty = {tp: end for tp, end in reported.items() if end > 0}
    if not nonempty:
        return corrected
    probe = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_max_wait_ms,
    )
    await probe.start()
    try:
        tps = {tp: TopicPartition(tp.topic, tp.partition) for tp in nonempty}
        probe.assign(list(tps.values()))
        for tp, end in nonempty.items():
            probe.seek(tps[tp], end - 1)
        pending = set(nonempty)
        for _ in range(5):  # a fetch per partition may need more than one round
            await probe.getmany(timeout_ms=500)
            for tp in list(pending):
                highwater = probe.highwater(tps[tp])
                if highwater is not None:
                    corrected[tp] = max(corrected[tp], highwater)
                    pending.discard(tp)
            if not pending:
                break
    finally:
        await probe.stop()
    return corrected


class Consumer(faust_aiokafka.Consumer):
    """Faust's consumer, made unable to lose the records it fetches around a seek.

    After every rebalance, recovery resumes the stream partitions, seeks them to
    their committed offsets, then resumes the streams - which clears their
    queues. Faust's fetch loop keeps running all the while (recovery resumed it
    to read the changelogs), so records fetched from the committed offset were
    delivered into the queues between the seek and the clear, then cleared:
    never processed, never acked, and the consumer's position already past
    them. The committed offset cannot pass the first of them, so the partition
    stalls with the rest behind it (seen on the local stack: a worker starting
    with a backlog on ``events`` partition 1, committed offset stuck at 444,
    618 records of lag, 50 events never stored).

    So a seek first stops the fetch loop; the caller resumes it after clearing
    the queues, as every caller of ``perform_seek`` in Faust 0.15 does (recovery
    after a rebalance, and the fetch loop itself when it finds the flow stopped).
    Records queued before the seek are fetched again from the committed offset.
    """

    def _new_consumer_thread(self) -> Any:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """Also seek the stream partitions that have no committed offset (or 0).

        aiokafka seeks only partitions with a committed offset above 0 and leaves
        the others where the fetch loop stands. After a rebalance that loop has
        already read them (from the start, per auto_offset_reset) into the queues
        recovery then clears, so a worker taking over a partition its killed
        owner never committed skipped every record in it (seen: 16,505 events of
        events_enriched never written to ClickHouse, with every offset committed
        after, since Faust checks for a gap only after a first commit).
        """
        committed = await super().seek_to_committed()
        changelogs = self.app.tables.changelog_topics
        unset = [
            tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs
        ]
        if unset and self.app.conf.consumer_auto_offset_reset == "earliest":
            log.info(
                "no committed offset, reading from the start: %s",
                ", ".join(sorted(f"{tp.topic}:{tp.partition}" for tp in unset)),
            )
            await self._thread.seek_to_beginning(*unset)
        return committed

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        # Faust counts offsets it never delivered as acked (meant for compacted
        # topics and transaction markers); none of ours has either, so a gap
        # means records were skipped, and they will be committed unprocessed.
        log.warning(
            "offsets %d..%d of %s:%d were skipped by the fetch; they count as done",
            offset_from,
            offset_to - 1,
            tp.topic,
            tp.partition,
        )
        await super()._add_gap(tp, offset_from, offset_to)

    async def perform_seek(self) -> None:
        was_flowing = self.flow_active
        self.stop_flow()
        try:
            await super().perform_seek()
        except BaseException:
            if was_flowing:  # as it was: nobody resumes after a seek that failed
                self.resume_flow()
            raise


def committed_offsets(consumer: Any) -> Mapping[TP, int | None]:
    """The offsets a Faust consumer last committed, per partition it has committed.

    Faust keeps them only in a private attribute (pinned faust-streaming 0.15);
    this is the one place outside diagnostics that reads it."""
    return getattr(consumer, "_committed_offset", {})  # type: ignore[no-any-return]


class FlushingProducerBuffer(ProducerBuffer):
    """Faust's buffer of ``send_soon`` records (every table write), with a flush that
    returns only once each of them is with the Kafka client.

    Faust flushes the producer before it commits offsets and before it hands
    partitions over in a rebalance, so that the changelogs hold every table write
    the committed offsets stand for. Its buffer's flush waits 0.1 s for each
    record and returns at the first wait that times out, however many are left,
    and a record taken off the queue but not yet given to the client counts
    nowhere. So under load offsets were committed, and partitions handed over,
    ahead of the changelog: a worker killed then, or the partition's new owner,
    lost those table writes for good (CI: persons that should have merged were
    left apart after a SIGKILL).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        # Records queued and handed to the client so far (the queue is FIFO).
        self.queued = 0
        self.handed = 0

    def put(self, fut: FutureMessage) -> None:
        self.queued += 1
        super().put(fut)

    async def _send_pending(self, fut: FutureMessage) -> None:
        try:
            await super()._send_pending(fut)
        finally:
            self.handed += 1

    async def flush(self) -> None:
        """Until every record queued before the call is with the client; records
        queued meanwhile (agents keep writing) do not hold it up."""
        target = self.queued
        waited_s = 0
        while self.handed < target:
            if self.state != "running" and self.size:
                raise RuntimeError("Cannot flush: Producer not Running")
            self.message_sent.clear()
            try:
                await asyncio.wait_for(self.message_sent.wait(), timeout=1.0)
            except TimeoutError:  # look again; say so if it lasts (commits wait)
                waited_s += 1
                if waited_s % 10 == 0:
                    log.warning(
                        "producer flush waiting %d s: %d of %d table writes with the client",
                        waited_s,
                        self.handed,
                        target,
                    )


class Producer(faust_aiokafka.Producer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.app.conf.producer_threaded:  # the threaded one has a queue of its own
            self.buffer = FlushingProducerBuffer(loop=self.loop, beacon=self.beacon)
            self.buffer.app = self.app


class Transport(faust_aiokafka.Transport):
    Consumer = Consumer
    Producer = Producer
