"""One batching writer: buffer, write in batches, acknowledge sources after a durable write."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from cohortstream.observability.metrics import (
    SINK_BATCH_ITEMS,
    SINK_DEAD_LETTERED,
    SINK_WRITE_SECONDS,
)
from cohortstream.retry import RetryPolicy, retry

T = TypeVar("T")
Ack = Callable[[], Awaitable[object]]
log = logging.getLogger(__name__)


class BatchingSink(Generic[T]):
    """Buffers items and writes them when ``max_items`` or ``max_age_s`` is reached.

    Guarantees: a source is acknowledged only after every item added with it
    was written, or, when writing failed through all retries, handed to
    ``dead_letter`` (nothing is dropped). ``flush`` always leaves the buffer
    empty. Calls are serialised, so a periodic flush and the consuming agent
    may both call in. The agent awaits ``flush_if_due`` after each add: while
    a batch is written it does not consume, which is the backpressure.
    """

    def __init__(
        self,
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
        dead_letter: Callable[[list[T], Exception], Awaitable[None]],
        *,
        max_items: int,
        max_age_s: float,
        policy: RetryPolicy,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._write = write
        self._dead_letter = dead_letter
        self.max_items = max_items
        self.max_age_s = max_age_s
        self.policy = policy
        self._clock = clock
        self._items: list[T] = []
        self._acks: list[Ack] = []
        self._oldest: float | None = None
        self._lock = asyncio.Lock()
        self.written = 0
        self.dead_lettered = 0

    def add(self, items: list[T], ack: Ack | None = None) -> None:
        if items and self._oldest is None:
            self._oldest = self._clock()
        self._items.extend(items)
        if ack is not None:
            self._acks.append(ack)

    @property
    def pending(self) -> int:
        return len(self._items)

    @property
    def due(self) -> bool:
        if len(self._items) >= self.max_items:
            return True
        if self._oldest is not None:
            return self._clock() - self._oldest >= self.max_age_s
        # Only acks buffered (sources with no items): nothing to wait for.
        return bool(self._acks)

    async def flush_if_due(self) -> None:
        if self.due:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            items, acks = self._items, self._acks
            self._items, self._acks, self._oldest = [], [], None
            if items:
                SINK_BATCH_ITEMS.labels(self.name).observe(len(items))
                started = time.monotonic()
                try:
                    await retry(self.policy, lambda: self._write(items), f"{self.name} write")
                    self.written += len(items)
                    SINK_WRITE_SECONDS.labels(self.name).observe(time.monotonic() - started)
                except Exception as exc:
                    log.error(
                        "%s: %d items failed after %d attempts, dead-lettering: %s",
                        self.name,
                        len(items),
                        self.policy.attempts,
                        exc,
                    )
                    await self._dead_letter(items, exc)
                    self.dead_lettered += len(items)
                    SINK_DEAD_LETTERED.labels(self.name).inc(len(items))
            for ack in acks:
                await ack()
