"""Step 3: a validated capture event to the enriched event every later stage reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cohortstream.ingestion.event_uuid import derive_event_uuid
from cohortstream.ingestion.geoip import GeoIpLookup, enrich_geoip
from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.ingestion.timestamps import resolve_event_time
from cohortstream.ingestion.validate import CaptureEvent
from cohortstream.streams.records import EnrichedEvent


def event_uuid_of(event: CaptureEvent, candidate: dict[str, Any]) -> str:
    """The client's uuid, or one derived from the payload."""
    return str(event.uuid) if event.uuid is not None else str(derive_event_uuid(candidate))


def enrich_event(
    event: CaptureEvent,
    candidate: dict[str, Any],
    received_at: datetime,
    geoip: GeoIpLookup | None = None,
) -> EnrichedEvent:
    """Fill in id, event time, location and person; pure (given one GeoIP database),
    so a replay yields the same row."""
    timestamp, warnings = resolve_event_time(
        event.timestamp, event.sent_at, event.offset, received_at
    )
    properties = event.properties
    if event.ip is not None and "$ip" not in properties:
        properties = {**properties, "$ip": event.ip}
    properties, geo_warnings = enrich_geoip(properties, event.ip, geoip)
    warnings += geo_warnings
    distinct_id = event.distinct_id_text
    return EnrichedEvent(
        uuid=event_uuid_of(event, candidate),
        project_id=event.project_id,
        event=event.event,
        distinct_id=distinct_id,
        person_id=person_id_for(event.project_id, distinct_id),
        properties=properties,
        timestamp_us=_micros(timestamp),
        created_at_us=_micros(received_at),
        warnings=[{"code": w.code, "detail": w.detail} for w in warnings] if warnings else [],
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(instant: datetime) -> int:
    # Exact integer arithmetic: float timestamps drift by a microsecond.
    return (instant - _EPOCH) // _MICROSECOND
