"""sink_events under test_context: rows reach the warehouse, in batches, or the DLQ."""

import asyncio

import orjson

from cohortstream.agents.sink import sink_events
from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.route import route_message
from cohortstream.sinks.event_sink import SINK_FAILED
from cohortstream.streams.records import DLQ_REASON

RECEIVED_MS = 1_772_366_400_000


def enriched_batch(*distinct_ids, timestamp="2026-03-01T10:00:00Z"):
    events = []
    for distinct_id in distinct_ids:
        routed = route_message(
            orjson.dumps(
                {"event": "a", "distinct_id": distinct_id, "project_id": 1, "timestamp": timestamp}
            ),
            f"1:{distinct_id}".encode(),
            RECEIVED_MS,
            IngestConfig(),
        )
        events.extend(routed.accepted)
    return events  # as the topic's orjson codec delivers them


async def wait_for(condition, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_rows_are_written_once_the_batch_is_full(outputs, warehouse):
    async with sink_events.test_context() as agent:
        await agent.put(enriched_batch("a", "b"))
        await asyncio.sleep(0.4)
        assert warehouse.rows.get("events") is None  # 2 rows < SINK_BATCH_ROWS=3
        await agent.put(enriched_batch("c", "d"))
        await wait_for(lambda: len(warehouse.rows.get("events", [])) == 4)
    rows = warehouse.rows["events"]
    assert sorted(r["distinct_id"] for r in rows) == ["a", "b", "c", "d"]
    assert rows[0]["timestamp"] == "2026-03-01 10:00:00.000000"
    assert any("CREATE TABLE IF NOT EXISTS events" in s for s in warehouse.statements)


async def test_row_threshold_holds_when_one_take_brings_many_messages(outputs, warehouse):
    async with sink_events.test_context() as agent:
        for index in range(20):  # queued at once: they arrive in one take
            await agent.put(enriched_batch(f"u{index}a", f"u{index}b"), wait=False)
        await wait_for(lambda: len(warehouse.rows.get("events", [])) == 40)
    sizes = [rows for table, rows in warehouse.inserts if table == "events"]
    # SINK_BATCH_ROWS=3 and two rows per message: every insert holds 3 or 4 rows.
    assert sizes and all(3 <= size <= 4 for size in sizes), sizes


async def test_warnings_land_in_their_own_table(outputs, warehouse):
    async with sink_events.test_context() as agent:
        await agent.put(enriched_batch("a", "b", "c", timestamp="whenever"))
        await wait_for(lambda: len(warehouse.rows.get("ingestion_warnings", [])) == 3)
    assert {r["code"] for r in warehouse.rows["ingestion_warnings"]} == {"invalid_timestamp"}


async def test_failing_warehouse_dead_letters_after_retries(outputs, warehouse, monkeypatch):
    monkeypatch.setattr("cohortstream.retry._sleep", _no_sleep)
    async with sink_events.test_context() as agent:
        await agent.put(enriched_batch("x", "y", "z"))
        await wait_for(lambda: len(warehouse.rows.get("events", [])) == 3)
        warehouse.failures_to_inject = 3  # every attempt of the ClickHouse preset
        await agent.put(enriched_batch("a", "b", "c"))
        await wait_for(lambda: len(outputs.dead_letters.records) == 3)
        await agent.put(enriched_batch("d", "e", "f"))  # the agent goes on afterwards
        await wait_for(lambda: len(warehouse.rows.get("events", [])) == 6)
    letters = outputs.dead_letters.records
    assert {r.header(DLQ_REASON) for r in letters} == {SINK_FAILED}
    assert sorted(orjson.loads(r.value)["distinct_id"] for r in letters) == ["a", "b", "c"]
    landed = sorted(r["distinct_id"] for r in warehouse.rows["events"])
    assert landed == ["d", "e", "f", "x", "y", "z"]


_real_sleep = asyncio.sleep


async def _no_sleep(_seconds):
    await _real_sleep(0)


async def test_track_definitions_fills_the_definitions_store(outputs, definitions_store):
    from cohortstream.agents.definitions import track_definitions

    async with track_definitions.test_context() as agent:
        await agent.put(enriched_batch("a", "b", "c"))
        await wait_for(lambda: (1, "event", "a") in definitions_store.rows, timeout=10)
    assert definitions_store.rows[(1, "event", "a")].volume == 3
