import pytest

from cohortstream.definitions.detect import properties_of, property_type
from cohortstream.definitions.tracker import HOUR_US, DefinitionsState, due, observe, written
from cohortstream.retry import RetryPolicy
from cohortstream.sinks.definitions_sink import (
    DEFINITIONS_FAILED,
    MemoryInvalidator,
    cache_key,
    make_definitions_sink,
)
from cohortstream.sinks.definitions_store import MemoryDefinitionsStore
from cohortstream.streams.publishers import MemoryPublisher
from cohortstream.streams.records import DLQ_REASON


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "Boolean"),
        (False, "Boolean"),
        (3, "Numeric"),
        (2.5, "Numeric"),
        ("hello", "String"),
        ("12345", "String"),
        ("2026-03-01", "DateTime"),
        ("2026-03-01T10:00:00Z", "DateTime"),
        ("2026-13-01", "String"),
        (None, None),
        ({"a": 1}, None),
        ([1], None),
    ],
)
def test_property_types(value, expected):
    assert property_type(value) == expected


def test_volatile_and_overlong_keys_are_not_definitions():
    found = properties_of(
        {
            "$set": {"a": 1},
            "$set_once": {},
            "$unset": ["a"],
            "x" * 401: 1,
            "plan": "pro",
            "$current_url": "https://x",
        }
    )
    assert found == {"plan": "String", "$current_url": "String"}


def event(name, properties=None, project_id=1, at_us=1_000):
    return {
        "uuid": "u",
        "project_id": project_id,
        "event": name,
        "distinct_id": "d",
        "person_id": "p",
        "properties": properties or {},
        "timestamp_us": at_us,
        "created_at_us": at_us,
        "warnings": [],
    }


def test_each_definition_is_written_at_most_once_an_hour_with_its_volume():
    hour = 100 * HOUR_US
    state = observe(DefinitionsState(), [event("a", {"n": 1}), event("a", {"n": 2})])
    batch = due(state, hour)
    assert {(d.kind, d.name, d.volume, d.property_type) for d in batch} == {
        ("event", "a", 2, None),
        ("property", "n", 2, "Numeric"),
    }
    state = written(state, batch, hour)

    state = observe(state, [event("a"), event("b")])
    later_same_hour = due(state, hour + HOUR_US // 2)
    assert [(d.name, d.volume) for d in later_same_hour] == [("b", 1)]  # "a" waits
    state = written(state, later_same_hour, hour + HOUR_US // 2)

    next_hour = due(state, hour + HOUR_US)
    assert [(d.name, d.volume) for d in next_hour] == [("a", 1)]  # the held volume


def test_state_is_handed_back_so_a_failed_write_changes_nothing():
    before = DefinitionsState()
    after = observe(before, [event("a")])
    assert before.unwritten == {} and after.unwritten
    assert due(before, 0) == []


NO_WAIT = RetryPolicy("t", attempts=3, base_delay_s=0.0)


async def test_sink_writes_definitions_and_invalidates_caches_of_new_ones(monkeypatch):
    store, invalidator, letters = MemoryDefinitionsStore(), MemoryInvalidator(), MemoryPublisher()
    sink = make_definitions_sink(
        store, invalidator, letters, max_events=10, max_age_s=1, clock_us=lambda: 5 * HOUR_US
    )
    sink.add([event("signup", {"plan": "pro"}, project_id=3)])
    await sink.flush()
    assert (3, "event", "signup") in store.rows
    assert store.rows[(3, "property", "plan")].property_type == "String"
    assert sorted(invalidator.invalidated) == [cache_key(3, "event"), cache_key(3, "property")]
    invalidator.invalidated.clear()
    sink.add([event("signup", {"plan": "free"}, project_id=3)])
    await sink.flush()
    assert invalidator.invalidated == []  # nothing new


async def test_sink_dead_letters_after_postgres_keeps_failing(monkeypatch):
    monkeypatch.setattr("cohortstream.retry._sleep", _no_sleep)
    store, letters = MemoryDefinitionsStore(), MemoryPublisher()
    store.failures_to_inject = 3
    sink = make_definitions_sink(
        store, MemoryInvalidator(), letters, max_events=10, max_age_s=1, clock_us=lambda: 0
    )
    sink.add([event("a"), event("b")])
    await sink.flush()
    assert store.rows == {}
    assert [r.header(DLQ_REASON) for r in letters.records] == [DEFINITIONS_FAILED] * 2
    # The failed batch was not counted: the next one writes from a clean state.
    sink.add([event("a")])
    await sink.flush()
    assert store.rows[(1, "event", "a")].volume == 1


async def _no_sleep(_seconds):
    return None
