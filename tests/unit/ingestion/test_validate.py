import orjson
import pytest

from cohortstream.ingestion.outcomes import Rejected
from cohortstream.ingestion.validate import CaptureEvent, validate_event

LIMIT = 1000
GOOD = {"event": "$pageview", "distinct_id": "user-1", "project_id": 1}


def check(candidate, raw_size=10):
    return validate_event(candidate, max_properties_bytes=LIMIT, raw_size=raw_size)


def test_minimal_event_is_accepted():
    event = check(GOOD)
    assert isinstance(event, CaptureEvent)
    assert event.partition_key == "1:user-1"
    assert event.properties == {}


def test_numeric_distinct_id_is_stored_as_text():
    event = check({**GOOD, "distinct_id": 42})
    assert isinstance(event, CaptureEvent)
    assert event.distinct_id_text == "42"
    assert event.partition_key == "1:42"


def test_ids_that_merely_contain_placeholders_are_fine():
    for distinct_id in ("null-user", "user-0", "10", "undefinedness", "d" * 200):
        assert isinstance(check({**GOOD, "distinct_id": distinct_id}), CaptureEvent)


def test_unknown_top_level_fields_are_ignored():
    assert isinstance(check({**GOOD, "api_key": "phc_x", "library": "web"}), CaptureEvent)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event": None}, "missing_event"),
        ({"event": ""}, "missing_event"),
        ({"event": "   "}, "missing_event"),
        ({"event": 5}, "invalid_event"),
        ({"event": "x" * 401}, "invalid_event"),
        ({"distinct_id": None}, "missing_distinct_id"),
        ({"distinct_id": ""}, "missing_distinct_id"),
        ({"distinct_id": "  "}, "missing_distinct_id"),
        ({"distinct_id": ["a"]}, "invalid_distinct_id"),
        ({"distinct_id": {"id": 1}}, "invalid_distinct_id"),
        ({"distinct_id": True}, "invalid_distinct_id"),
        ({"distinct_id": 1.5}, "invalid_distinct_id"),
        ({"distinct_id": "d" * 201}, "invalid_distinct_id"),
        ({"distinct_id": "undefined"}, "illegal_distinct_id"),
        ({"distinct_id": "NULL"}, "illegal_distinct_id"),
        ({"distinct_id": " null "}, "illegal_distinct_id"),
        ({"distinct_id": "None"}, "illegal_distinct_id"),
        ({"distinct_id": "NaN"}, "illegal_distinct_id"),
        ({"distinct_id": "0"}, "illegal_distinct_id"),
        ({"distinct_id": 0}, "illegal_distinct_id"),
        ({"distinct_id": "[object Object]"}, "illegal_distinct_id"),
        ({"project_id": None}, "missing_project_id"),
        ({"project_id": "1"}, "invalid_project_id"),
        ({"project_id": 0}, "invalid_project_id"),
        ({"project_id": -3}, "invalid_project_id"),
        ({"project_id": True}, "invalid_project_id"),
        ({"properties": "x"}, "invalid_properties"),
        ({"properties": [1, 2]}, "invalid_properties"),
        ({"uuid": "not-a-uuid"}, "invalid_uuid"),
        ({"uuid": 12}, "invalid_uuid"),
        ({"ip": 127}, "invalid_ip"),
    ],
)
def test_bad_fields_are_rejected_with_a_reason_naming_the_field(change, reason):
    candidate = {key: value for key, value in {**GOOD, **change}.items() if value is not None}
    outcome = check(candidate)
    assert isinstance(outcome, Rejected), outcome
    assert outcome.reason == reason
    assert outcome.detail


def test_missing_keys_are_missing_reasons():
    for field in ("event", "distinct_id", "project_id"):
        candidate = {k: v for k, v in GOOD.items() if k != field}
        outcome = check(candidate)
        assert isinstance(outcome, Rejected)
        assert outcome.reason == f"missing_{field}"


def test_oversized_properties_are_rejected_only_when_really_over_the_limit():
    big = {**GOOD, "properties": {"blob": "x" * LIMIT}}
    raw_size = len(orjson.dumps(big))
    outcome = check(big, raw_size=raw_size)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "properties_too_large"
    # A large message whose own properties are small (a big batch) passes.
    assert isinstance(check({**GOOD, "properties": {"a": 1}}, raw_size=10 * LIMIT), CaptureEvent)
