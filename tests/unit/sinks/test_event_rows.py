from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.route import route_message
from cohortstream.sinks.event_rows import capture_payload, clickhouse_time, event_row, warning_rows

RECEIVED_MS = 1_772_366_400_000


def enriched(payload, key):
    return route_message(orjson.dumps(payload), key, RECEIVED_MS, IngestConfig()).accepted[0]


def test_clickhouse_time_is_exact_to_the_microsecond():
    assert clickhouse_time(0) == "1970-01-01 00:00:00.000000"
    assert clickhouse_time(1_772_366_400_123_457) == "2026-03-01 12:00:00.123457"


def test_event_row_has_every_column():
    event = enriched(
        {
            "event": "a",
            "distinct_id": "d",
            "project_id": 1,
            "timestamp": "2026-03-01T10:00:00.5Z",
            "properties": {"n": 1},
        },
        b"1:d",
    )
    row = event_row(event)
    assert row == {
        "uuid": event["uuid"],
        "project_id": 1,
        "event": "a",
        "distinct_id": "d",
        "person_id": event["person_id"],
        "properties": '{"n":1}',
        "timestamp": "2026-03-01 10:00:00.500000",
        "created_at": "2026-03-01 12:00:00.000000",
    }


def test_warning_rows_name_the_event():
    event = enriched({"event": "a", "distinct_id": "d", "project_id": 1, "timestamp": "?"}, b"1:d")
    [row] = warning_rows(event)
    assert row["event_uuid"] == event["uuid"]
    assert row["code"] == "invalid_timestamp"


def test_capture_payload_reingests_as_the_same_event():
    event = enriched(
        {
            "event": "a",
            "distinct_id": "d",
            "project_id": 1,
            "timestamp": "2026-02-01T10:00:00.000123Z",
            "sent_at": "2026-02-01T10:00:01Z",
            "properties": {"n": 1},
        },
        b"1:d",
    )
    again = enriched(capture_payload(event), b"1:d")
    for field in ("uuid", "event", "distinct_id", "person_id", "properties", "timestamp_us"):
        assert again[field] == event[field]


@given(st.integers(min_value=-2_208_988_800_000_000, max_value=10_413_791_999_999_999))
def test_clickhouse_time_is_the_instant_as_datetime_writes_it(micros):
    # DateTime64's range: 1900-01-01 to 2299-12-31.
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert clickhouse_time(micros) == instant.strftime("%Y-%m-%d %H:%M:%S.%f")
