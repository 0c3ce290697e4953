"""``cohortstream replay``: move a consumer group's committed offsets on a topic, so
the next workers reprocess from there (backfill, recovery from a bad deploy).

The sinks are idempotent, so reprocessing creates no duplicates. Offsets can
only be moved while the group's workers are stopped: the commit is made as no
member of the group, which brokers accept only from a group without members
(joining instead would not do: tansu refuses a member whose assignor differs
from the last one's, even in an empty group). tansu also keeps a stopped
worker's membership until someone joins; ``evict_stale`` joins, as the group's
only member, to have it dropped, and commits from inside the group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)
from aiokafka.errors import CommitFailedError, IllegalGenerationError, UnknownMemberIdError

from cohortstream.settings import Settings

log = logging.getLogger(__name__)


class ReplayError(Exception):
    """The reset cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """Where to move: the earliest offset, an offset, or the first record at a time."""

    earliest: bool = False
    offset: int | None = None
    time: datetime | None = None


@dataclass(frozen=True)
class Moved:
    partition: int
    before: int | None  # committed before; None: the group had none
    after: int


def clamp(offset: int, earliest: int, end: int) -> int:
    """Offsets outside the log would make consumers fall back to their reset policy."""
    return max(earliest, min(offset, end))


async def first_offset_at(
    timestamp_at: Callable[[int], Awaitable[int | None]], low: int, high: int, at_ms: int
) -> int:
    """The smallest offset in [low, high] whose record is stamped at or after ``at_ms``
    (``high`` when none is), by bisection; ``timestamp_at(o)`` is the stamp of the
    first record at or after offset ``o``, None when there is none. Assumes stamps
    grow with offsets, as Kafka's own time index does."""
    while low < high:
        middle = (low + high) // 2
        stamp = await timestamp_at(middle)
        if stamp is None or stamp >= at_ms:
            high = middle
        else:
            low = middle + 1
    return low


async def reset_offsets(
    settings: Settings,
    topic: str,
    group: str,
    target: Target,
    partitions: Iterable[int] | None = None,
    wait_for_empty_s: float = 60.0,
    evict_stale: bool = False,
) -> list[Moved]:
    planned = await _plan(settings, topic, target, partitions)
    if evict_stale:
        return await _commit_as_sole_member(settings, topic, group, planned, wait_for_empty_s)
    return await _commit_while_empty(settings, topic, group, planned, wait_for_empty_s)


async def _plan(
    settings: Settings, topic: str, target: Target, partitions: Iterable[int] | None
) -> dict[int, int]:
    reader = AIOKafkaConsumer(bootstrap_servers=settings.kafka_broker, enable_auto_commit=False)
    await reader.start()
    try:
        known = await _partitions_of(reader, topic)
        chosen = sorted(set(partitions) if partitions is not None else known)
        unknown = [p for p in chosen if p not in known]
        if unknown:
            raise ReplayError(f"topic {topic!r} has no partitions {unknown} (it has {len(known)})")
        tps = [TopicPartition(topic, p) for p in chosen]
        reader.assign(tps)
        earliest = await reader.beginning_offsets(tps)
        end = await reader.end_offsets(tps)
        planned = {}
        for tp in tps:
            if target.earliest:
                offset = earliest[tp]
            elif target.offset is not None:
                offset = target.offset
            else:
                assert target.time is not None
                at_ms = int(target.time.timestamp() * 1000)
                offset = await _offset_at_time(reader, tp, earliest[tp], end[tp], at_ms)
            planned[tp.partition] = clamp(offset, earliest[tp], end[tp])
        return planned
    finally:
        await reader.stop()


async def _partitions_of(reader: AIOKafkaConsumer, topic: str) -> set[int]:
    await reader._client.force_metadata_update()
    found = reader.partitions_for_topic(topic)
    if not found:
        raise ReplayError(f"no topic {topic!r} on {reader._client.hosts}")
    return set(found)


async def _offset_at_time(
    reader: AIOKafkaConsumer, tp: TopicPartition, earliest: int, end: int, at_ms: int
) -> int:
    """The broker's time index, checked against the records around its answer;
    bisection over record stamps when the answer is wrong (tansu answers offset 0
    stamped now)."""

    async def timestamp_at(offset: int) -> int | None:
        return await _timestamp_at(reader, tp, offset)

    found = (await reader.offsets_for_times({tp: at_ms})).get(tp)
    if found is None:
        return end  # nothing stamped that late
    offset = int(found.offset)
    stamp = await timestamp_at(offset)
    before = await timestamp_at(offset - 1) if offset > earliest else None
    if (stamp is None or stamp >= at_ms) and (before is None or before < at_ms):
        return offset
    log.info("%s: the broker's time index answered %s; bisecting instead", tp, found)
    return await first_offset_at(timestamp_at, earliest, end, at_ms)


async def _timestamp_at(reader: AIOKafkaConsumer, tp: TopicPartition, offset: int) -> int | None:
    reader.seek(tp, offset)
    batch = await reader.getmany(tp, timeout_ms=2000, max_records=1)
    records = batch.get(tp, [])
    return int(records[0].timestamp) if records else None


async def _members(settings: Settings, group: str) -> list[str]:
    """The group's members, as "client_id@host"."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_broker)
    await admin.start()
    try:
        [described] = await admin.describe_consumer_groups([group])
        return [
            f"{member[1] or member[0]}@{member[2] or '?'}"
            for found in described.groups
            for member in found[5]
        ]
    finally:
        await admin.close()


async def _commit_while_empty(
    settings: Settings, topic: str, group: str, planned: dict[int, int], wait_s: float
) -> list[Moved]:
    """Commit as no member (generation -1), as Kafka's own offset reset tool does: the
    broker takes that only from a group without members. A stopped worker stays a
    member until its session times out, so wait that long for the group to empty."""
    deadline = time.monotonic() + wait_s
    members = await _members(settings, group)
    while members and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        members = await _members(settings, group)
    if members:
        raise ReplayError(_busy(group, members))
    committer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_broker, group_id=group, enable_auto_commit=False
    )
    await committer.start()
    try:
        tps = {p: TopicPartition(topic, p) for p in planned}
        committer.assign(list(tps.values()))
        before = {p: await committer.committed(tp) for p, tp in tps.items()}
        try:
            await committer.commit({tps[p]: offset for p, offset in planned.items()})
        except (CommitFailedError, UnknownMemberIdError, IllegalGenerationError) as exc:
            raise ReplayError(_busy(group, None)) from exc  # joined since the check
        return [Moved(p, before[p], planned[p]) for p in sorted(planned)]
    finally:
        await committer.stop()


class _TakeOver(AbstractPartitionAssignor):
    """Every partition to the first member. Named like Faust's assignor: tansu
    refuses a joiner whose assignor name differs from the members' it remembers."""

    name = "faust"
    version = 0

    @classmethod
    def assign(
        cls, cluster: Any, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        topics = sorted({topic for meta in members.values() for topic in meta.subscription})
        everything = [(t, sorted(cluster.partitions_for_topic(t) or ())) for t in topics]
        first, *rest = sorted(members)
        assigned = {first: ConsumerProtocolMemberAssignment(cls.version, everything, b"")}
        assigned.update({m: ConsumerProtocolMemberAssignment(cls.version, [], b"") for m in rest})
        return assigned

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), b"")

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        pass


async def _commit_as_sole_member(
    settings: Settings, topic: str, group: str, planned: dict[int, int], wait_s: float
) -> list[Moved]:
    """For brokers that keep a stopped worker's membership (tansu): join, which makes
    the broker drop members that do not rejoin, and commit as the group's only
    member. Handed fewer than all partitions, someone is still consuming: nothing
    is committed."""
    member = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_broker,
        group_id=group,
        enable_auto_commit=False,
        partition_assignment_strategy=(_TakeOver,),
        session_timeout_ms=int(settings.consumer_session_timeout_s * 1000),
        rebalance_timeout_ms=int(settings.consumer_session_timeout_s * 1000),
    )
    await member.start()
    try:
        everything = {TopicPartition(topic, p) for p in member.partitions_for_topic(topic) or ()}
        deadline = time.monotonic() + wait_s
        while not member.assignment() and time.monotonic() < deadline:
            await member.getmany(timeout_ms=200)  # joins; records are ignored
        assigned = member.assignment()
        if assigned != everything:
            raise ReplayError(_busy(group, await _members(settings, group)))
        member.pause(*assigned)
        tps = {p: TopicPartition(topic, p) for p in planned}
        before = {p: await member.committed(tp) for p, tp in tps.items()}
        await member.commit({tps[p]: offset for p, offset in planned.items()})
        return [Moved(p, before[p], planned[p]) for p in sorted(planned)]
    finally:
        await member.stop()


def _busy(group: str, members: list[str] | None) -> str:
    named = f"{len(members)} active member(s) {members}" if members else "active members"
    return (
        f"group {group!r} has {named}: stop its workers first "
        "(a killed worker's membership lapses after its session timeout)"
    )
