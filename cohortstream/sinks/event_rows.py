"""Enriched events to ClickHouse rows, and back to capture payloads for dead letters."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cohortstream.streams.records import EnrichedEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.date()


def clickhouse_time(micros: int) -> str:
    """``YYYY-MM-DD hh:mm:ss.ffffff`` (UTC), the DateTime64(6) text ClickHouse parses."""
    # strftime was the costliest step of a row, and a cache per second missed for
    # event times spread over days: the date is cached, the rest is arithmetic.
    seconds, fraction = divmod(micros, 1_000_000)
    days, second = divmod(seconds, 86_400)
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    return f"{_day_text(days)} {hour:02d}:{minute:02d}:{second:02d}.{fraction:06d}"


@functools.lru_cache(maxsize=4_096)
def _day_text(days: int) -> str:
    return (_EPOCH_DAY + timedelta(days=days)).isoformat()


def event_row(event: EnrichedEvent) -> dict[str, Any]:
    """The ``events`` row of one event."""
    return {
        "uuid": event["uuid"],
        "project_id": event["project_id"],
        "event": event["event"],
        "distinct_id": event["distinct_id"],
        "person_id": event["person_id"],
        "properties": orjson.dumps(event["properties"]).decode(),
        "timestamp": clickhouse_time(event["timestamp_us"]),
        "created_at": clickhouse_time(event["created_at_us"]),
    }


def warning_rows(event: EnrichedEvent) -> list[dict[str, Any]]:
    """The ``ingestion_warnings`` rows of one event (usually none)."""
    return [
        {
            "project_id": event["project_id"],
            "event_uuid": event["uuid"],
            "distinct_id": event["distinct_id"],
            "code": warning["code"],
            "detail": warning["detail"],
            "created_at": clickhouse_time(event["created_at_us"]),
        }
        for warning in event["warnings"]
    ]


def capture_payload(event: EnrichedEvent) -> dict[str, Any]:
    """A capture payload that re-ingests as the same event (same uuid and event time)."""
    return {
        "uuid": event["uuid"],
        "event": event["event"],
        "distinct_id": event["distinct_id"],
        "project_id": event["project_id"],
        "properties": event["properties"],
        "timestamp": (_EPOCH + timedelta(microseconds=event["timestamp_us"])).isoformat(),
    }
