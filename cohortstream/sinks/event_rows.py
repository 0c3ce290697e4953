"""Enriched events to ClickHouse rows, and back to capture payloads for dead letters."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cohortstream.streams.records import EnrichedEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def clickhouse_time(micros: int) -> str:
    """``YYYY-MM-DD hh:mm:ss.ffffff`` (UTC), the DateTime64(6) text ClickHouse parses."""
    seconds, fraction = divmod(micros, 1_000_000)
    return f"{_second_text(seconds)}.{fraction:06d}"


@functools.lru_cache(maxsize=65_536)
def _second_text(seconds: int) -> str:
    # strftime is the costliest step of a row; events cluster in time, so cache per second.
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


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
