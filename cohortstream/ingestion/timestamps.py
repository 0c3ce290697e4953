"""Event time: client timestamp corrected for clock skew, bounded by the receive time.

The receive time is the Kafka message timestamp, never the wall clock, so a
replay of the same message computes the same event time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cohortstream.ingestion.outcomes import IngestionWarning

MAX_FUTURE = timedelta(hours=23)
# ClickHouse DateTime64 starts in 1900; anything before the epoch is a client bug.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def parse_instant(value: Any) -> datetime | None:
    """An ISO 8601 string as an aware UTC datetime; None when it is not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def resolve_event_time(
    timestamp: Any, sent_at: Any, offset_ms: Any, received_at: datetime
) -> tuple[datetime, list[IngestionWarning]]:
    """When the event happened, with warnings for what had to be guessed.

    - ``timestamp`` and ``sent_at``: the client's clock is shifted so that
      ``sent_at`` equals the receive time (skew correction).
    - only ``offset`` (milliseconds before sending): receive time minus offset.
    - only ``timestamp``: taken as it is.
    - nothing usable: the receive time.
    More than 23 hours after the receive time is clamped to the receive time.
    """
    warnings: list[IngestionWarning] = []
    event_time = parse_instant(timestamp)
    if timestamp is not None and event_time is None:
        warnings.append(
            IngestionWarning("invalid_timestamp", f"unparseable timestamp {timestamp!r}")
        )
    client_sent_at = parse_instant(sent_at)
    if sent_at is not None and client_sent_at is None:
        warnings.append(IngestionWarning("invalid_sent_at", f"unparseable sent_at {sent_at!r}"))

    try:
        if event_time is not None and client_sent_at is not None:
            resolved = received_at + (event_time - client_sent_at)
        elif _is_offset(offset_ms):
            resolved = received_at - timedelta(milliseconds=offset_ms)
        elif event_time is not None:
            resolved = event_time
        else:
            resolved = received_at
    except OverflowError:
        warnings.append(IngestionWarning("timestamp_out_of_range", "event time out of range"))
        resolved = received_at

    if resolved < EARLIEST:
        warnings.append(
            IngestionWarning("timestamp_out_of_range", f"event time {resolved.isoformat()}")
        )
        resolved = received_at
    elif resolved - received_at > MAX_FUTURE:
        warnings.append(
            IngestionWarning(
                "timestamp_in_future",
                f"event time {resolved.isoformat()} is more than 23h after receipt; clamped",
            )
        )
        resolved = received_at
    return resolved, warnings


def _is_offset(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
