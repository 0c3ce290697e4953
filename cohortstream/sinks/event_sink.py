"""The events sink: enriched events to the ``events`` and ``ingestion_warnings`` tables."""

from __future__ import annotations

import orjson

from cohortstream.ingestion.outcomes import Rejected
from cohortstream.retry import CLICKHOUSE
from cohortstream.sinks.batching import BatchingSink
from cohortstream.sinks.event_rows import capture_payload, event_row, warning_rows
from cohortstream.sinks.warehouse import Warehouse, encode_rows
from cohortstream.streams.dead_letters import send_dead_letter
from cohortstream.streams.publishers import Publisher
from cohortstream.streams.records import EnrichedEvent

SINK_FAILED = "clickhouse_insert_failed"


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

    async def dead_letter(events: list[EnrichedEvent], error: Exception) -> None:
        detail = f"ClickHouse insert failed after retries: {error}"
        for event in events:
            # As a capture payload, so that `dlq replay` re-ingests the same event.
            rejected = Rejected(SINK_FAILED, detail, orjson.dumps(capture_payload(event)))
            key = f"{event['project_id']}:{event['distinct_id']}".encode()
            await send_dead_letter(dead_letters, rejected, key, source="sink/events")

    return BatchingSink(
        "events sink",
        write,
        dead_letter,
        max_items=max_rows,
        max_age_s=max_age_s,
        policy=CLICKHOUSE,
    )
