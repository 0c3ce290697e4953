"""Where agents send records: a Faust topic in production, a list in tests."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from cohortstream.retry import KAFKA_FOREVER, retry

Headers = list[tuple[str, bytes]]
log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(
        self,
        key: bytes | None,
        value: bytes,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        """Hand one record to the producer (buffered; flushed before offsets commit)."""

    async def delivered(self) -> None:
        """Until every record published so far is acknowledged by the broker."""


async def publish_durably(
    publisher: Publisher,
    key: bytes | None,
    value: bytes,
    *,
    what: str,
    headers: Headers | None = None,
    partition: int | None = None,
    timestamp_ms: int | None = None,
) -> None:
    """Publish, retrying for as long as the broker refuses.

    Callers ack their source only after this returns, so a broker outage
    stalls consumption instead of losing records.
    """
    await retry(
        KAFKA_FOREVER,
        lambda: publisher.publish(
            key, value, headers=headers, partition=partition, timestamp_ms=timestamp_ms
        ),
        what,
    )


class TopicPublisher:
    """Publishes to a Faust topic.

    ``topic.send`` returns once the record is queued in the client, not once the
    broker has it; records of different partitions travel in different requests,
    so a later record (a table's changelog write) can be acknowledged before an
    earlier one. ``delivered`` waits for them, for agents whose state must not
    reach the changelog ahead of the records it caused."""

    def __init__(self, topic: Any) -> None:
        self.topic = topic
        self._in_flight: list[asyncio.Future[Any]] = []

    async def publish(
        self,
        key: bytes | None,
        value: bytes,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        sent = await self.topic.send(
            key=key,
            value=value,
            headers=headers,
            partition=partition,
            timestamp=None if timestamp_ms is None else timestamp_ms / 1000,
        )
        if isinstance(sent, asyncio.Future):
            self._in_flight = [f for f in self._in_flight if not f.done()]
            self._in_flight.append(sent)

    async def delivered(self) -> None:
        # Every record published before the call, by any agent: a snapshot that is
        # not cleared, so another agent's call still waits for its own records.
        pending = [f for f in self._in_flight if not f.done()]
        waited_s = 0
        while pending:
            _, still = await asyncio.wait(pending, timeout=10)
            pending = list(still)
            if pending:  # the agent's table writes wait on these: say so
                waited_s += 10
                log.warning(
                    "%d records to %s not acknowledged after %d s",
                    len(pending),
                    self.topic.get_topic_name(),
                    waited_s,
                )


@dataclass(frozen=True)
class Published:
    key: bytes | None
    value: bytes
    headers: Headers
    partition: int | None
    timestamp_ms: int | None

    def header(self, name: str) -> str | None:
        return next((v.decode() for k, v in self.headers if k == name), None)


@dataclass
class MemoryPublisher:
    """Collects records; ``fail_next`` makes that many publishes raise first."""

    records: list[Published] = field(default_factory=list)
    fail_next: int = 0

    async def publish(
        self,
        key: bytes | None,
        value: bytes,
        *,
        headers: Headers | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ConnectionError("injected publish failure")
        self.records.append(Published(key, value, headers or [], partition, timestamp_ms))

    async def delivered(self) -> None:
        """Records here are delivered when appended."""
