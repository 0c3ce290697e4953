"""The identity and person agents under test_context: tables, commands, rows."""

import orjson

from cohortstream.agents.identities import apply_identity_commands
from cohortstream.agents.ingest import ingest_events
from cohortstream.agents.outbox import MAX_MESSAGE_BYTES, publish_outbox
from cohortstream.agents.person_sink import sink_persons
from cohortstream.agents.persons import update_persons
from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.observability.metrics import REGISTRY
from cohortstream.streams.records import DLQ_REASON, DLQ_SOURCE
from cohortstream.tables.commands import Outbox
from cohortstream.tables.faust_tables import identities, persons
from cohortstream.tables.keys import partition_for, person_key

from .test_ingest_events import enriched_events, wait_for


def commands(publisher):
    return [c for record in publisher.records for c in orjson.loads(record.value)]


async def test_ingest_resolves_persons_and_sends_commands_to_their_partitions(outputs):
    async with ingest_events.test_context() as agent:
        await agent.put(
            orjson.dumps(
                {
                    "event": "$identify",
                    "distinct_id": "user-1",
                    "project_id": 1,
                    "properties": {"$anon_distinct_id": "anon-1", "$set": {"plan": "pro"}},
                }
            ),
            key=b"1:user-1",
        )
        await wait_for(lambda: len(commands(outputs.identity_commands)) == 1)
    [event] = enriched_events(outputs)
    assert event["person_id"] == person_id_for(1, "user-1")
    assert identities["1:user-1"] == [person_id_for(1, "user-1"), 0]
    [person_command] = commands(outputs.person_commands)
    assert person_command["op"] == "event" and person_command["identify"]
    assert person_command["set"] == {"plan": "pro"}
    [record] = outputs.person_commands.records
    assert record.partition == partition_for(person_key(1, event["person_id"]), 8)
    [link] = commands(outputs.identity_commands)
    assert (link["op"], link["distinct_id"], link["person_id"]) == (
        "link",
        "anon-1",
        event["person_id"],
    )


async def test_ingest_resolves_an_unseen_distinct_id_from_postgres(outputs, person_store):
    known = "22222222-2222-4222-8222-222222222222"
    person_store.distinct_id_rows[(1, "veteran")] = {
        "project_id": 1,
        "distinct_id": "veteran",
        "person_id": known,
        "version": 4,
        "is_deleted": False,
    }
    async with ingest_events.test_context() as agent:
        await agent.put(
            orjson.dumps({"event": "e", "distinct_id": "veteran", "project_id": 1}),
            key=b"1:veteran",
        )
        await wait_for(lambda: len(enriched_events(outputs)) == 1)
    assert enriched_events(outputs)[0]["person_id"] == known
    assert identities["1:veteran"] == [known, 4]


async def test_update_persons_keeps_state_and_emits_rows(outputs, changelog):
    pid = person_id_for(1, "d")
    command = {
        "op": "event",
        "project_id": 1,
        "person_id": pid,
        "distinct_id": "d",
        "version": 0,
        "uuid": "u1",
        "event": "e",
        "timestamp_us": 5,
        "set": {"plan": "pro"},
    }
    async with update_persons.test_context() as agent:
        await agent.put([command])
        await agent.put([command])  # redelivered: no new row
        await agent.put([1, 2])  # not commands: dead-lettered, the agent goes on
        await agent.put([{**command, "uuid": "u2", "timestamp_us": 6, "set": {"plan": "max"}}])
        await wait_for(
            lambda: (
                [r["version"] for r in commands(outputs.person_changes) if r["table"] == "persons"]
                == [0, 1]
            )
        )
    state = persons[person_key(1, pid)]
    assert state["properties"] == {"plan": "max"} and state["version"] == 1
    rows = commands(outputs.person_changes)
    assert [r["version"] for r in rows if r["table"] == "persons"] == [0, 1]
    assert [r.header(DLQ_REASON) for r in outputs.dead_letters.records] == ["command_failed"]
    # Every write reached the changelog, in the partition that owns the key.
    [(name, partition, key, _)] = {(c[0], c[1], c[2], 0) for c in changelog}
    assert (name, key) == ("persons", person_key(1, pid))
    assert partition == partition_for(key, 8)


async def test_apply_identity_commands_attaches_a_new_distinct_id(outputs):
    link = {
        "op": "link",
        "project_id": 1,
        "distinct_id": "anon",
        "person_id": "p-user",
        "kind": "identify",
        "uuid": "u",
        "source_distinct_id": "user",
    }
    async with apply_identity_commands.test_context() as agent:
        await agent.put([link])
        await wait_for(lambda: len(commands(outputs.person_commands)) == 1)
    assert identities["1:anon"] == ["p-user", 0]
    [attach] = commands(outputs.person_commands)
    assert (attach["op"], attach["person_id"], attach["distinct_id"]) == (
        "attach",
        "p-user",
        "anon",
    )


async def test_sink_persons_writes_clickhouse_and_postgres(outputs, warehouse, person_store):
    rows = [
        {
            "table": "persons",
            "project_id": 1,
            "id": "33333333-3333-4333-8333-333333333333",
            "properties": {"a": 1},
            "is_identified": True,
            "created_at_us": 0,
            "version": 2,
            "is_deleted": False,
        },
        {
            "table": "distinct_ids",
            "project_id": 1,
            "distinct_id": "d",
            "person_id": "33333333-3333-4333-8333-333333333333",
            "version": 1,
            "is_deleted": False,
        },
    ]
    async with sink_persons.test_context() as agent:
        for _ in range(2):  # SINK_BATCH_ROWS is 3 in these tests
            await agent.put(rows)
        await wait_for(lambda: len(warehouse.rows.get("persons", [])) >= 1)
    assert warehouse.rows["person_distinct_ids"][0]["distinct_id"] == "d"
    assert person_store.persons_rows[(1, rows[0]["id"])]["version"] == 2
    assert person_store.distinct_id_rows[(1, "d")]["person_id"] == rows[0]["id"]


async def test_person_outputs_are_retried_before_the_batch_is_acked(outputs, monkeypatch):
    # take_events acks in a `finally`: a send that raised would lose the batch's effects.
    async def no_sleep(_):
        return None

    monkeypatch.setattr("cohortstream.retry._sleep", no_sleep)
    outputs.person_changes.fail_next = 2
    pid = person_id_for(1, "r")
    command = {
        "op": "event",
        "project_id": 1,
        "person_id": pid,
        "distinct_id": "r",
        "version": 0,
        "uuid": "u1",
        "event": "e",
        "timestamp_us": 5,
        "set": {"a": 1},
    }
    async with update_persons.test_context() as agent:
        await agent.put([command])
        await wait_for(lambda: len(outputs.person_changes.records) == 1)
    [row] = [r for r in commands(outputs.person_changes) if r["table"] == "persons"]
    assert row["properties"] == {"a": 1}


def _merges_counted() -> float:
    return REGISTRY.get_sample_value("cohortstream_person_merges_total") or 0.0


async def test_merges_are_counted_once_however_many_messages_the_rows_take(outputs):
    pad = "x" * (MAX_MESSAGE_BYTES // 3)  # three rows per message at most
    rows = [{"table": "overrides", "n": n, "pad": pad} for n in range(5)]
    before = _merges_counted()
    await publish_outbox(Outbox(rows=rows))
    sent = outputs.person_changes.records
    assert len(sent) >= 2  # the rows took more than one message
    assert sum(len(orjson.loads(r.value)) for r in sent) == 5
    assert _merges_counted() - before == 5


async def test_a_row_no_message_can_hold_is_dead_lettered_and_the_others_sent(outputs):
    # The producer would refuse it for good and stall the person partition behind it.
    big = "x" * MAX_MESSAGE_BYTES
    stamped = {
        "table": "persons",
        "project_id": 1,
        "id": "p1",
        "properties": {"plan": "pro"},
        "set_at": {"plan": [1, big, "set"]},
    }
    huge = {"table": "persons", "project_id": 1, "id": "p2", "properties": {"notes": big}}
    member = {"table": "members", "project_id": 1, "cohort_id": "c", "person_id": "p3"}
    await publish_outbox(Outbox(rows=[stamped, huge, member]))
    sent = [row for record in outputs.person_changes.records for row in orjson.loads(record.value)]
    # Too large with its stamps only: sent without them.
    assert sent == [{k: v for k, v in stamped.items() if k != "set_at"}, member]
    [letter] = outputs.dead_letters.records
    assert letter.header(DLQ_REASON) == "row_too_large"
    assert letter.header(DLQ_SOURCE) == "person_changes"
    assert orjson.loads(letter.value) == {
        "table": "persons",
        "project_id": 1,
        "id": "p2",
        "person_id": None,
        "bytes": len(orjson.dumps(huge)),
    }
