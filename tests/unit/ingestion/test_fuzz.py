"""Arbitrary bytes and JSON at the ingestion steps: no crash, every event accounted for."""

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohortstream.ingestion.batch import SourceMessage, ingest_messages
from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.geoip import GeoIpLookup
from cohortstream.ingestion.route import route_message

CONFIG = IngestConfig(max_properties_bytes=2_000, geoip=GeoIpLookup())
RECEIVED_MS = 1_772_366_400_000

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# Events whose every field may be right, wrong-typed or missing.
field_values = {
    "event": st.sampled_from(["$pageview", "", " ", "a" * 500]) | json_values,
    "distinct_id": st.sampled_from(["u1", "0", "null", "", "x" * 300]) | json_values,
    "project_id": st.sampled_from([1, 0, -1, "1", True]) | json_values,
    "uuid": st.uuids().map(str) | json_values,
    "properties": st.dictionaries(st.text(max_size=8), json_values, max_size=4) | json_values,
    "timestamp": st.sampled_from(
        ["2026-03-01T10:00:00Z", "0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "soon"]
    )
    | json_values,
    "sent_at": st.sampled_from(["2026-03-01T10:00:05Z", "garbage"]) | json_values,
    "offset": st.integers(-(10**18), 10**18) | json_values,
    "ip": st.sampled_from(["89.160.20.112", "::1", "999.0.0.1"]) | json_values,
}
event_like = st.fixed_dictionaries({}, optional=field_values)


def candidates_in(raw: bytes) -> int | None:
    """How many events a decodable payload holds; None when it is rejected whole."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(payload, dict) and "batch" in payload:
        return len(payload["batch"]) or None if isinstance(payload["batch"], list) else None
    if isinstance(payload, list):
        return len(payload) or None
    return 1 if isinstance(payload, dict) else None


def assert_accounted(raw: bytes, key: bytes | None) -> None:
    routed = route_message(raw, key, RECEIVED_MS, CONFIG)
    outcomes = (
        len(routed.accepted)
        + len(routed.rejected)
        + sum(len(events) for events in routed.misrouted.values())
    )
    expected = candidates_in(raw)
    assert outcomes == (expected if expected is not None else 1)
    for rejected in routed.rejected:
        assert rejected.reason and rejected.reason == rejected.reason.lower()
        # Whole message or lone event: the bytes that came; one of many: that event.
        assert rejected.raw == raw if rejected.batch_index is None else rejected.raw
    for event in routed.accepted:
        orjson.dumps(event)  # always serialisable for the next topic


slow = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(st.binary(max_size=300), st.none() | st.binary(max_size=20))
def test_arbitrary_bytes(raw, key):
    assert_accounted(raw, key)


@slow
@given(json_values)
def test_arbitrary_json(value):
    assert_accounted(orjson.dumps(value), None)


@slow
@given(event_like, st.booleans())
def test_event_like_objects(event, keyed):
    key = f"{event.get('project_id')}:{event.get('distinct_id')}".encode() if keyed else None
    assert_accounted(orjson.dumps(event), key)


@slow
@given(st.lists(event_like, max_size=6), st.none() | json_values)
def test_batches_of_event_like_objects(events, project_id):
    envelope = (
        {"batch": events} if project_id is None else {"batch": events, "project_id": project_id}
    )
    assert_accounted(orjson.dumps(envelope), b"1:u1")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=100) | json_values.map(orjson.dumps), max_size=8))
def test_ingest_batches_lose_no_message(values):
    messages = [
        SourceMessage("events", i % 3, i, None, value, RECEIVED_MS)
        for i, value in enumerate(values)
    ]
    output = ingest_messages(messages, CONFIG)
    sources_out = {letter.source for letter in output.dead_letters}
    # A message that produced nothing accepted or re-keyed must be dead-lettered.
    if not output.enriched and not output.rekeyed:
        assert sources_out == {m.source for m in messages}
