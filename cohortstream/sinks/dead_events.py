"""Dead-lettering enriched events that a sink could not write, so that replay re-ingests them."""

from __future__ import annotations

import orjson

from cohortstream.ingestion.outcomes import Rejected
from cohortstream.sinks.event_rows import capture_payload
from cohortstream.streams.dead_letters import send_dead_letter
from cohortstream.streams.publishers import Publisher
from cohortstream.streams.records import EnrichedEvent


async def dead_letter_events(
    publisher: Publisher, events: list[EnrichedEvent], reason: str, detail: str, source: str
) -> None:
    """One dead letter per event, as a capture payload with the same uuid and event time."""
    for event in events:
        rejected = Rejected(reason, detail, orjson.dumps(capture_payload(event)))
        key = f"{event['project_id']}:{event['distinct_id']}".encode()
        await send_dead_letter(publisher, rejected, key, source=source)
