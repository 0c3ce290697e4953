from datetime import UTC, datetime, timedelta

import pytest

from cohortstream.ingestion.timestamps import parse_instant, resolve_event_time

RECEIVED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def codes(warnings):
    return [w.code for w in warnings]


@pytest.mark.parametrize(
    ("timestamp", "sent_at", "offset", "expected", "warning_codes"),
    [
        # Skew correction: client clock 1 h fast, event 10 s before sending.
        (
            "2026-03-01T12:59:50Z",
            "2026-03-01T13:00:00Z",
            None,
            RECEIVED - timedelta(seconds=10),
            [],
        ),
        (None, None, 1500, RECEIVED - timedelta(milliseconds=1500), []),
        ("2026-02-28T08:00:00+02:00", None, None, datetime(2026, 2, 28, 6, tzinfo=UTC), []),
        ("2026-02-28T08:00:00", None, None, datetime(2026, 2, 28, 8, tzinfo=UTC), []),
        (None, None, None, RECEIVED, []),
        ("yesterday", None, None, RECEIVED, ["invalid_timestamp"]),
        (1234, None, None, RECEIVED, ["invalid_timestamp"]),
        (
            "2026-03-01T11:00:00Z",
            "garbage",
            None,
            datetime(2026, 3, 1, 11, tzinfo=UTC),
            ["invalid_sent_at"],
        ),
        ("2026-03-03T12:00:00Z", None, None, RECEIVED, ["timestamp_in_future"]),
        ("2026-03-02T10:00:00Z", None, None, datetime(2026, 3, 2, 10, tzinfo=UTC), []),
        ("1960-01-01T00:00:00Z", None, None, RECEIVED, ["timestamp_out_of_range"]),
        (None, None, 10**18, RECEIVED, ["timestamp_out_of_range"]),
        (None, None, -5, RECEIVED, []),
        (None, None, True, RECEIVED, []),
        (
            "0001-01-01T00:00:00Z",
            "9999-12-31T00:00:00Z",
            None,
            RECEIVED,
            ["timestamp_out_of_range"],
        ),
    ],
)
def test_event_time(timestamp, sent_at, offset, expected, warning_codes):
    resolved, warnings = resolve_event_time(timestamp, sent_at, offset, RECEIVED)
    assert resolved == expected
    assert codes(warnings) == warning_codes


def test_parse_instant_rejects_non_strings():
    assert parse_instant(None) is None
    assert parse_instant(5) is None
    assert parse_instant("") is None
    assert parse_instant("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
