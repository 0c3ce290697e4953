"""The definitions sink: enriched events to event/property definitions in PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from cohortstream.definitions.tracker import DefinitionsState, due, observe, written
from cohortstream.retry import POSTGRES, RetryPolicy, retry
from cohortstream.sinks.batching import BatchingSink
from cohortstream.sinks.dead_events import dead_letter_events
from cohortstream.sinks.definitions_store import DefinitionsStore
from cohortstream.streams.publishers import Publisher
from cohortstream.streams.records import EnrichedEvent

log = logging.getLogger(__name__)

DEFINITIONS_FAILED = "postgres_upsert_failed"
INVALIDATION = RetryPolicy("redis", attempts=3, base_delay_s=0.1)


def cache_key(project_id: int, kind: str) -> str:
    """The Redis key a query API caches a project's definition list under (documented)."""
    return f"cohortstream:definitions:{project_id}:{kind}"


class CacheInvalidator(Protocol):
    async def invalidate(self, keys: list[str]) -> None: ...


class RedisInvalidator:
    def __init__(self, client: Any) -> None:
        self.client = client

    async def invalidate(self, keys: list[str]) -> None:
        await self.client.delete(*keys)


class MemoryInvalidator:
    def __init__(self) -> None:
        self.invalidated: list[str] = []

    async def invalidate(self, keys: list[str]) -> None:
        self.invalidated.extend(keys)


def make_definitions_sink(
    store: DefinitionsStore,
    invalidator: CacheInvalidator,
    dead_letters: Publisher,
    *,
    max_events: int,
    max_age_s: float,
    clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
) -> BatchingSink[EnrichedEvent]:
    """A BatchingSink whose batches become at most one write per definition and hour."""
    state = DefinitionsState()

    async def write(events: list[EnrichedEvent]) -> None:
        nonlocal state
        now = clock_us()
        observed = observe(state, events)  # not kept unless the write succeeds
        batch = due(observed, now)
        new = await store.upsert(batch) if batch else set()
        state = written(observed, batch, now)
        if new:
            keys = sorted(cache_key(project_id, kind) for project_id, kind in new)
            try:
                await retry(INVALIDATION, lambda: invalidator.invalidate(keys), "invalidate")
            except Exception as exc:  # the rows are written; a retry would count them twice
                log.error("could not invalidate definition caches %s: %s", keys, exc)

    async def dead_letter(events: list[EnrichedEvent], error: Exception) -> None:
        detail = f"PostgreSQL definitions upsert failed after retries: {error}"
        await dead_letter_events(
            dead_letters, events, DEFINITIONS_FAILED, detail, "sink/definitions"
        )

    return BatchingSink(
        "definitions sink",
        write,
        dead_letter,
        max_items=max_events,
        max_age_s=max_age_s,
        policy=POSTGRES,
    )
