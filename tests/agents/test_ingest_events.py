"""ingest_events under test_context: what reaches each output topic."""

import asyncio

import orjson

from cohortstream.agents.ingest import ingest_events
from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.observability.metrics import REGISTRY
from cohortstream.streams.records import DLQ_BATCH_INDEX, DLQ_REASON, DLQ_SOURCE


async def wait_for(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def enriched_events(outputs):
    return [event for record in outputs.enriched.records for event in orjson.loads(record.value)]


async def test_valid_events_are_enriched_and_published(outputs):
    async with ingest_events.test_context() as agent:
        for index in range(5):
            await agent.put(
                orjson.dumps({"event": "$pageview", "distinct_id": f"d{index}", "project_id": 1}),
                key=f"1:d{index}".encode(),
            )
        await wait_for(lambda: len(enriched_events(outputs)) == 5)
    events = enriched_events(outputs)
    assert sorted(e["distinct_id"] for e in events) == [f"d{i}" for i in range(5)]
    assert all(e["person_id"] == person_id_for(1, e["distinct_id"]) for e in events)
    assert outputs.dead_letters.records == []


def counted(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0


async def test_bad_input_goes_to_the_dead_letter_topic_and_the_agent_goes_on(outputs):
    accepted = counted("cohortstream_events_total", outcome="accepted")
    refused = counted("cohortstream_events_total", outcome="dead_lettered")
    invalid_json = counted("cohortstream_dead_letters_total", reason="invalid_json")
    async with ingest_events.test_context() as agent:
        await agent.put(b"{not json", key=b"k")
        await agent.put(orjson.dumps({"event": "a", "project_id": 1}), key=None)
        await agent.put(
            orjson.dumps([{"event": "a", "distinct_id": "x", "project_id": 1}, 7]), key=b"1:x"
        )
        await agent.put(
            orjson.dumps({"event": "ok", "distinct_id": "y", "project_id": 1}), key=b"1:y"
        )
        await wait_for(lambda: len(enriched_events(outputs)) == 2)
    letters = outputs.dead_letters.records
    assert [r.header(DLQ_REASON) for r in letters] == [
        "invalid_json",
        "missing_distinct_id",
        "invalid_payload",
    ]
    assert letters[0].value == b"{not json"
    assert letters[0].key == b"k"
    assert letters[0].header(DLQ_SOURCE).count("/") == 2
    assert letters[2].header(DLQ_BATCH_INDEX) == "1"
    assert sorted(e["event"] for e in enriched_events(outputs)) == ["a", "ok"]
    assert counted("cohortstream_events_total", outcome="accepted") == accepted + 2
    assert counted("cohortstream_events_total", outcome="dead_lettered") == refused + 3
    assert counted("cohortstream_dead_letters_total", reason="invalid_json") == invalid_json + 1


async def test_unkeyed_events_are_republished_under_their_key(outputs):
    async with ingest_events.test_context() as agent:
        await agent.put(orjson.dumps({"event": "a", "distinct_id": "d", "project_id": 4}), key=None)
        await wait_for(lambda: len(outputs.rekeyed.records) == 1)
    [record] = outputs.rekeyed.records
    assert record.key == b"4:d"
    [event] = orjson.loads(record.value)
    assert event["uuid"]
    assert enriched_events(outputs) == []


async def test_publish_failures_are_retried_before_the_batch_is_acked(outputs, monkeypatch):
    # take_events acks in a `finally`, so a send that raised would lose the batch:
    # the agent must retry inside its body until the producer takes the records.
    outputs.enriched.fail_next = 2
    outputs.dead_letters.fail_next = 1
    monkeypatch.setattr("cohortstream.retry._sleep", _no_sleep)
    async with ingest_events.test_context() as agent:
        await agent.put(
            orjson.dumps({"event": "a", "distinct_id": "d", "project_id": 1}), key=b"1:d"
        )
        await agent.put(b"garbage", key=b"1:d")
        await wait_for(lambda: len(outputs.dead_letters.records) == 1)
    assert len(enriched_events(outputs)) == 1
    assert outputs.enriched.fail_next == 0


_real_sleep = asyncio.sleep


async def _no_sleep(_seconds):
    await _real_sleep(0)


async def test_random_garbage_never_stops_the_agent_and_every_event_is_accounted_for(outputs):
    import random

    from tests.unit.ingestion.test_fuzz import candidates_in

    seed = 1234
    rng = random.Random(seed)
    values = []
    for index in range(200):
        choice = rng.random()
        if choice < 0.3:
            values.append(rng.randbytes(rng.randrange(0, 60)))
        elif choice < 0.6:
            values.append(
                orjson.dumps(
                    {
                        "event": rng.choice(["a", "", 3, None]),
                        "distinct_id": rng.choice(["u", "null", [1], 7]),
                        "project_id": rng.choice([1, "1", 0, None]),
                    }
                )
            )
        elif choice < 0.8:
            values.append(
                orjson.dumps(
                    [
                        {"event": "e", "distinct_id": f"u{index}", "project_id": 1},
                        rng.choice([1, "x", {}]),
                    ]
                )
            )
        else:
            values.append(orjson.dumps({"event": "ok", "distinct_id": "same", "project_id": 1}))
    expected = sum(candidates_in(value) or 1 for value in values)

    def accounted():
        rekeyed = sum(len(orjson.loads(r.value)) for r in outputs.rekeyed.records)
        return len(enriched_events(outputs)) + rekeyed + len(outputs.dead_letters.records)

    async with ingest_events.test_context() as agent:
        for value in values:
            await agent.put(value, key=b"1:same", wait=False)
        await wait_for(lambda: accounted() == expected, timeout=20)
    assert accounted() == expected, f"seed {seed}"
