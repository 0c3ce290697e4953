"""The events sink: enriched events to the ``events`` and ``ingestion_warnings`` tables."""

from __future__ import annotations

import time

from cohortstream.observability.metrics import EVENT_LATENCY
from cohortstream.retry import CLICKHOUSE
from cohortstream.sinks.batching import BatchingSink
from cohortstream.sinks.dead_events import dead_letter_events
from cohortstream.sinks.event_rows import event_row, warning_rows
from cohortstream.sinks.warehouse import Warehouse, encode_rows
from cohortstream.streams.publishers import Publisher
from cohortstream.streams.records import EnrichedEvent

SINK_FAILED = "clickhouse_insert_failed"


def observe_latency(events: list[EnrichedEvent]) -> None:
    """Receipt by the broker (the event's created_at) to now, when its row is written."""
    now_us = time.time() * 1_000_000
    for event in events:
        EVENT_LATENCY.observe(max(0.0, (now_us - event["created_at_us"]) / 1_000_000))


def make_event_sink(
    warehouse: Warehouse,
    dead_letters: Publisher,
    *,
    max_rows: int,
    max_age_s: float,
) -> BatchingSink[EnrichedEvent]:
    """A BatchingSink whose batches go to ClickHouse, or to the DLQ when it keeps failing."""

    async def write(events: list[EnrichedEvent]) -> None:
        await warehouse.insert_json_rows("events", encode_rows([event_row(e) for e in events]))
        warnings = [row for event in events for row in warning_rows(event)]
        if warnings:
            await warehouse.insert_json_rows("ingestion_warnings", encode_rows(warnings))
        observe_latency(events)

    async def dead_letter(events: list[EnrichedEvent], error: Exception) -> None:
        detail = f"ClickHouse insert failed after retries: {error}"
        await dead_letter_events(dead_letters, events, SINK_FAILED, detail, "sink/events")

    return BatchingSink(
        "events sink",
        write,
        dead_letter,
        max_items=max_rows,
        max_age_s=max_age_s,
        policy=CLICKHOUSE,
    )
