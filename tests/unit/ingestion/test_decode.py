import orjson
import pytest

from cohortstream.ingestion.decode import decode_payload
from cohortstream.ingestion.outcomes import Rejected


def test_single_object_is_one_candidate():
    assert decode_payload(b'{"event": "a", "distinct_id": "d"}') == [
        {"event": "a", "distinct_id": "d"}
    ]


def test_array_is_a_batch():
    assert decode_payload(b'[{"event": "a"}, {"event": "b"}]') == [{"event": "a"}, {"event": "b"}]


def test_batch_envelope_fills_defaults_without_overriding_events():
    raw = orjson.dumps(
        {
            "batch": [{"event": "a"}, {"event": "b", "project_id": 9}],
            "project_id": 2,
            "sent_at": "2026-01-01T00:00:00Z",
            "api_key": "k",
        }
    )
    assert decode_payload(raw) == [
        {"project_id": 2, "sent_at": "2026-01-01T00:00:00Z", "event": "a"},
        {"project_id": 9, "sent_at": "2026-01-01T00:00:00Z", "event": "b"},
    ]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "invalid_json"),
        (b"", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b'{"event": "a"', "invalid_json"),
        (b"12", "invalid_payload"),
        (b'"text"', "invalid_payload"),
        (b"null", "invalid_payload"),
        (b"[]", "empty_batch"),
        (b'{"batch": []}', "empty_batch"),
        (b'{"batch": {"event": "a"}}', "invalid_payload"),
    ],
)
def test_unusable_messages_are_rejected_whole_with_original_bytes(raw, reason):
    outcome = decode_payload(raw)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == reason
    assert outcome.raw == raw


def test_non_object_batch_elements_are_rejected_alone():
    outcome = decode_payload(b'[{"event": "a"}, 3, "x"]')
    assert isinstance(outcome, list)
    assert outcome[0] == {"event": "a"}
    assert [(r.reason, r.batch_index, r.raw) for r in outcome[1:]] == [
        ("invalid_payload", 1, b"3"),
        ("invalid_payload", 2, b'"x"'),
    ]
