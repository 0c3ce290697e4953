"""The outputs and sinks agents use, swappable for in-memory twins in tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cohortstream.cohorts.definition import CohortDefinition
from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.retry import RetryPolicy, retry
from cohortstream.settings import Settings
from cohortstream.sinks.batching import BatchingSink
from cohortstream.sinks.definitions_sink import CacheInvalidator, make_definitions_sink
from cohortstream.sinks.definitions_store import DefinitionsStore
from cohortstream.sinks.event_sink import make_event_sink
from cohortstream.sinks.migrate import migrate
from cohortstream.sinks.person_sink import make_person_sink
from cohortstream.sinks.person_store import PersonStore
from cohortstream.sinks.warehouse import Warehouse
from cohortstream.streams.publishers import Publisher
from cohortstream.streams.records import EnrichedEvent

log = logging.getLogger(__name__)

# Start-up waits for its stores as long as it takes: consuming without a sink would only stall.
STORE_START = RetryPolicy("store start", attempts=0, base_delay_s=1.0, max_delay_s=15.0)


@dataclass
class Wiring:
    """What the agents write to. Production builds it from topics and settings."""

    settings: Settings
    enriched: Publisher
    rekeyed: Publisher
    dead_letters: Publisher
    open_warehouse: Callable[[], Warehouse]
    # (store, invalidator, close) for definitions; opened once, on first use.
    open_definitions: Callable[
        [], Awaitable[tuple[DefinitionsStore, CacheInvalidator, Callable[[], Awaitable[None]]]]
    ]
    load_project_ids: Callable[[], Awaitable[frozenset[int]]]
    close_postgres: Callable[[], Awaitable[None]]
    identity_commands: Publisher
    person_commands: Publisher
    person_changes: Publisher
    open_person_store: Callable[[], Awaitable[PersonStore]]
    load_cohorts: Callable[[], Awaitable[list[CohortDefinition]]]
    cohort_transitions: Publisher
    # Assignment of cohort entrants to owners (None: not wired, nothing assigned).
    load_assignment_rules: Callable[[], Awaitable[dict[str, Any]]] | None = None
    write_assignments: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None
    # idempotency key -> rotation position, for keys assigned before
    assigned_positions: Callable[[list[str]], Awaitable[dict[str, int]]] | None = None
    assignments: Publisher | None = None
    # Blocked distinct_ids and distinct_id limits per project (None: no identity rules)
    load_identity_rules: Callable[[], Awaitable[IdentityRules]] | None = None
    _person_store: PersonStore | None = field(default=None, repr=False)
    _person_sink: BatchingSink[dict[str, Any]] | None = field(default=None, repr=False)
    _event_sink: BatchingSink[EnrichedEvent] | None = field(default=None, repr=False)
    _definitions_sink: BatchingSink[EnrichedEvent] | None = field(default=None, repr=False)
    _warehouse: Warehouse | None = field(default=None, repr=False)
    _close_definitions: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def warehouse(self) -> Warehouse:
        """The migrated warehouse, opened on first use (waits for ClickHouse to come up)."""
        async with self._lock:
            if self._warehouse is None:

                async def connect() -> Warehouse:
                    # Connecting blocks (HTTP handshake, chdb start-up): keep it off the loop.
                    warehouse = await asyncio.to_thread(self.open_warehouse)
                    applied = await migrate(warehouse)
                    if applied:
                        log.info("applied ClickHouse migrations %s", applied)
                    return warehouse

                self._warehouse = await retry(STORE_START, connect, "ClickHouse connect")
            return self._warehouse

    async def event_sink(self) -> BatchingSink[EnrichedEvent]:
        if self._event_sink is None:
            warehouse = await self.warehouse()
            self._event_sink = make_event_sink(
                warehouse,
                self.dead_letters,
                max_rows=self.settings.sink_batch_rows,
                max_age_s=self.settings.sink_flush_seconds,
            )
        return self._event_sink

    async def definitions_sink(self) -> BatchingSink[EnrichedEvent]:
        """Opened on first use; waits for PostgreSQL to come up."""
        if self._definitions_sink is None:
            store, invalidator, close = await retry(
                STORE_START, self.open_definitions, "PostgreSQL connect"
            )
            self._close_definitions = close
            self._definitions_sink = make_definitions_sink(
                store,
                invalidator,
                self.dead_letters,
                max_events=self.settings.sink_batch_rows,
                max_age_s=self.settings.sink_flush_seconds,
            )
        return self._definitions_sink

    async def person_store(self) -> PersonStore:
        """Persons in PostgreSQL: cold-start lookups and the persons sink; waits for it."""
        async with self._lock:
            if self._person_store is None:
                self._person_store = await retry(
                    STORE_START, self.open_person_store, "PostgreSQL connect"
                )
            return self._person_store

    async def person_sink(self) -> BatchingSink[dict[str, Any]]:
        if self._person_sink is None:
            warehouse = await self.warehouse()
            store = await self.person_store()
            self._person_sink = make_person_sink(
                warehouse,
                store,
                self.dead_letters,
                max_rows=self.settings.sink_batch_rows,
                max_age_s=self.settings.sink_flush_seconds,
            )
        return self._person_sink

    async def close(self) -> None:
        """Write what is buffered and release connections (worker shutdown)."""
        for sink in self.started_sinks():
            await sink.flush()
        if self._warehouse is not None:
            await self._warehouse.close()
            self._warehouse = None
            self._event_sink = None
            self._person_sink = None
        if self._close_definitions is not None:
            await self._close_definitions()
            self._close_definitions = None
            self._definitions_sink = None
        await self.close_postgres()

    def started_sinks(self) -> list[BatchingSink[Any]]:
        sinks = (self._event_sink, self._definitions_sink, self._person_sink)
        return [s for s in sinks if s is not None]
