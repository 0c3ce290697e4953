import uuid

import orjson

from cohortstream.ingestion.batch import SourceMessage, ingest_messages
from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.event_uuid import derive_event_uuid
from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.ingestion.route import route_message

RECEIVED_MS = 1_772_366_400_000  # 2026-03-01T12:00:00Z
LIMIT = 1_000_000
CONFIG = IngestConfig(LIMIT)


def route(payload, key):
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return route_message(raw, key, RECEIVED_MS, CONFIG)


def test_correctly_keyed_event_is_enriched():
    routed = route(
        {
            "event": "a",
            "distinct_id": "d1",
            "project_id": 3,
            "ip": "1.2.3.4",
            "timestamp": "2026-03-01T11:00:00Z",
            "properties": {"k": "v"},
        },
        b"3:d1",
    )
    [event] = routed.accepted
    assert event["project_id"] == 3
    assert event["distinct_id"] == "d1"
    assert event["person_id"] == person_id_for(3, "d1")
    assert event["properties"] == {"k": "v", "$ip": "1.2.3.4"}
    assert event["timestamp_us"] == (RECEIVED_MS - 3600_000) * 1000
    assert event["created_at_us"] == RECEIVED_MS * 1000
    assert event["warnings"] == []
    assert not routed.misrouted
    assert not routed.rejected


def test_missing_uuid_is_derived_from_the_payload_and_stable():
    payload = {"event": "a", "distinct_id": "d1", "project_id": 3}
    first = route(payload, b"3:d1").accepted[0]["uuid"]
    again = route(payload, b"3:d1").accepted[0]["uuid"]
    other = route({**payload, "properties": {"x": 1}}, b"3:d1").accepted[0]["uuid"]
    assert first == again == str(derive_event_uuid(payload))
    assert other != first


def test_client_uuid_is_kept():
    given = str(uuid.uuid4())
    routed = route({"event": "a", "distinct_id": "d", "project_id": 1, "uuid": given}, b"1:d")
    assert routed.accepted[0]["uuid"] == given


def test_unkeyed_and_miskeyed_events_are_rekeyed_with_their_uuid_fixed():
    payload = {"event": "a", "distinct_id": "d1", "project_id": 3}
    for key in (None, b"wrong", b"3:other"):
        routed = route(payload, key)
        assert not routed.accepted
        [(new_key, [event])] = routed.misrouted.items()
        assert new_key == "3:d1"
        assert event["uuid"] == str(derive_event_uuid(payload))
        # The second pass, under the right key, yields the same event.
        second = route(orjson.dumps([event]), b"3:d1").accepted[0]
        assert second["uuid"] == event["uuid"]


def test_batch_with_mixed_distinct_ids_splits_by_key():
    routed = route(
        {
            "batch": [
                {"event": "a", "distinct_id": "anon"},
                {"event": "$identify", "distinct_id": "user"},
                {"event": "b"},
            ],
            "project_id": 1,
        },
        b"1:anon",
    )
    assert [e["event"] for e in routed.accepted] == ["a"]
    assert list(routed.misrouted) == ["1:user"]
    [rejected] = routed.rejected
    assert rejected.reason == "missing_distinct_id"
    assert rejected.batch_index == 2
    assert orjson.loads(rejected.raw) == {"event": "b", "project_id": 1}


def test_rejected_single_event_keeps_the_original_bytes():
    raw = b'{"event": "a", "project_id": 1, "extra": [1,   2]}'
    [rejected] = route(raw, None).rejected
    assert rejected.raw == raw
    assert rejected.batch_index is None


def test_warnings_travel_with_the_event():
    [event] = route(
        {"event": "a", "distinct_id": "d", "project_id": 1, "timestamp": "soon"}, b"1:d"
    ).accepted
    assert [w["code"] for w in event["warnings"]] == ["invalid_timestamp"]
    assert event["timestamp_us"] == RECEIVED_MS * 1000


def message(value, key, partition=0, offset=0, timestamp_ms=RECEIVED_MS):
    return SourceMessage("events", partition, offset, key, value, timestamp_ms)


def test_ingest_groups_accepted_events_by_source_partition():
    messages = [
        message(orjson.dumps({"event": "a", "distinct_id": "x", "project_id": 1}), b"1:x", 0, 0),
        message(orjson.dumps({"event": "b", "distinct_id": "y", "project_id": 1}), b"1:y", 1, 0),
        message(orjson.dumps({"event": "c", "distinct_id": "x", "project_id": 1}), b"1:x", 0, 1),
        message(b"{", b"k", 1, 1),
    ]
    output = ingest_messages(messages, CONFIG)
    assert {p: [e["event"] for e in events] for p, events in output.enriched.items()} == {
        0: ["a", "c"],
        1: ["b"],
    }
    [letter] = output.dead_letters
    assert letter.rejected.reason == "invalid_json"
    assert letter.source == "events/1/1"
    assert letter.key == b"k"


def test_ingest_survives_an_unexpected_error_in_one_message(monkeypatch):
    import cohortstream.ingestion.batch as batch

    real = batch.route_message

    def explode_on_poison(raw, *args, **kwargs):
        if raw == b'"poison"':
            raise RuntimeError("boom")
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(batch, "route_message", explode_on_poison)
    good = orjson.dumps({"event": "a", "distinct_id": "x", "project_id": 1})
    output = ingest_messages(
        [message(b'"poison"', None, 0, 0), message(good, b"1:x", 0, 1)], CONFIG
    )
    assert output.accepted_count == 1
    [letter] = output.dead_letters
    assert letter.rejected.reason == "internal_error"
    assert letter.rejected.raw == b'"poison"'


def test_missing_kafka_timestamp_falls_back_to_now():
    good = orjson.dumps({"event": "a", "distinct_id": "x", "project_id": 1})
    output = ingest_messages([message(good, b"1:x", timestamp_ms=0)], CONFIG)
    assert output.enriched[0][0]["created_at_us"] > RECEIVED_MS * 1000


def test_events_of_unregistered_projects_are_rejected():
    from cohortstream.projects.registry import ProjectRegistry

    registry = ProjectRegistry(frozenset({1}))
    config = IngestConfig(projects=registry)
    raw = orjson.dumps({"event": "a", "distinct_id": "d", "project_id": 2})
    [rejected] = route_message(raw, b"2:d", RECEIVED_MS, config).rejected
    assert (rejected.reason, rejected.raw) == ("unknown_project", raw)
    assert route_message(
        raw.replace(b'"project_id":2', b'"project_id":1'), b"1:d", RECEIVED_MS, config
    ).accepted
    assert ProjectRegistry().knows(1) is False  # not loaded: nothing is known
    registry.replace(frozenset({2}))
    assert route_message(raw, b"2:d", RECEIVED_MS, config).accepted


def test_a_blocked_distinct_id_is_dead_lettered_for_its_project_only():
    from cohortstream.projects.identity_rules import IdentityRules

    rules = IdentityRules({1: frozenset({"shared-login"})})
    config = IngestConfig(identity_rules=rules)
    raw = orjson.dumps({"event": "a", "distinct_id": "shared-login", "project_id": 1})
    [rejected] = route_message(raw, b"1:shared-login", RECEIVED_MS, config).rejected
    assert rejected.reason == "blocked_distinct_id"
    assert "'shared-login' is blocked for project 1" in rejected.detail
    other_project = raw.replace(b'"project_id":1', b'"project_id":2')
    assert route_message(other_project, b"2:shared-login", RECEIVED_MS, config).accepted
    rules.replace({})
    assert route_message(raw, b"1:shared-login", RECEIVED_MS, config).accepted
