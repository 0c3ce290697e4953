"""The person rules through the three real agents under test_context, their
outputs pumped back into each other as the topics would carry them."""

import orjson

from cohortstream.agents import cohorts as cohorts_agent
from cohortstream.agents.identities import apply_identity_commands
from cohortstream.agents.ingest import ingest_events
from cohortstream.agents.persons import update_persons
from cohortstream.cohorts.backfill import activate_command
from cohortstream.cohorts.definition import generation_of
from cohortstream.tables.faust_tables import activations, identities, persons
from cohortstream.tables.keys import identity_key, person_key
from cohortstream.tables.person_state import is_live

from .test_ingest_events import wait_for


class Pipeline:
    """Feeds each agent what the others published, until nothing moves."""

    def __init__(self, outputs, ingest, identity, person):
        self.outputs = outputs
        self.ingest, self.identity, self.person = ingest, identity, person
        self.seen = {"identity_commands": 0, "person_commands": 0}

    async def send(self, distinct_id, event, properties=None, second=0, now=False):
        payload = {
            "event": event,
            "distinct_id": distinct_id,
            "project_id": 1,
            "properties": properties or {},
        }
        if not now:  # else the event happens when it is received
            payload["timestamp"] = f"2026-03-01T10:00:{second:02d}Z"
        await self.ingest.put(orjson.dumps(payload), key=f"1:{distinct_id}".encode())
        await self.settle()

    async def settle(self):
        idle_rounds = 0
        while idle_rounds < 5:
            moved = False
            for name, agent in (
                ("identity_commands", self.identity),
                ("person_commands", self.person),
            ):
                records = getattr(self.outputs, name).records
                for record in records[self.seen[name] :]:
                    await agent.put(orjson.loads(record.value))
                    moved = True
                self.seen[name] = len(records)
            idle_rounds = 0 if moved else idle_rounds + 1
            await wait_for(lambda: True)
            await _pause()


async def _pause():
    import asyncio

    await asyncio.sleep(0.08)  # longer than the agents' take window


def live_person(distinct_id):
    person_id = identities[identity_key(1, distinct_id)][0]
    state = persons[person_key(1, person_id)]
    assert is_live(state)
    return state


def rows(outputs, table):
    return [
        row
        for record in outputs.person_changes.records
        for row in orjson.loads(record.value)
        if row["table"] == table
    ]


async def run(outputs, *events):
    async with (
        ingest_events.test_context() as ingest,
        apply_identity_commands.test_context() as identity,
        update_persons.test_context() as person,
    ):
        pipeline = Pipeline(outputs, ingest, identity, person)
        for event in events:
            await pipeline.send(*event) if isinstance(event, tuple) else await pipeline.send(
                **event
            )


async def test_identify_merges_anonymous_into_user_with_the_users_values_winning(outputs):
    await run(
        outputs,
        ("anon", "$pageview", {"$set": {"plan": "free", "seen": 1}}, 1),
        ("user", "signed_up", {"$set": {"plan": "pro"}}, 2),
        ("user", "$identify", {"$anon_distinct_id": "anon"}, 3),
    )
    person = live_person("anon")
    assert person is live_person("user") or person["id"] == live_person("user")["id"]
    assert set(person["distinct_ids"]) == {"anon", "user"}
    assert person["properties"] == {"plan": "pro", "seen": 1}
    assert person["is_identified"]
    assert rows(outputs, "overrides")


async def test_identified_anonymous_person_refuses_a_second_identify(outputs):
    await run(
        outputs,
        ("u1", "$identify", {"$anon_distinct_id": "anon"}, 1),
        ("u2", "$identify", {"$anon_distinct_id": "anon"}, 2),
    )
    assert set(live_person("u1")["distinct_ids"]) == {"u1", "anon"}
    assert set(live_person("u2")["distinct_ids"]) == {"u2"}
    assert [w["code"] for w in rows(outputs, "warnings")] == ["cannot_merge_already_identified"]


async def test_merge_dangerously_and_alias_chain_into_one_person(outputs):
    await run(
        outputs,
        ("u1", "$identify", {"$anon_distinct_id": "a1"}, 1),
        ("u2", "$identify", {"$anon_distinct_id": "a2"}, 2),
        ("u2", "$create_alias", {"alias": "u2@example.com"}, 3),
        ("u1", "$merge_dangerously", {"alias": "u2"}, 4),
    )
    person = live_person("a1")
    assert set(person["distinct_ids"]) == {"u1", "a1", "u2", "a2", "u2@example.com"}
    for did in person["distinct_ids"]:
        assert identities[identity_key(1, did)][0] == person["id"]


async def test_set_once_and_unset_by_event_time(outputs):
    await run(
        outputs,
        ("d", "$pageview", {"$set_once": {"source": "ads"}, "$set": {"tmp": 1}}, 5),
        ("d", "$pageview", {"$set_once": {"source": "seo"}, "$unset": ["tmp"]}, 2),  # late
    )
    # The late $unset is older than the $set it would undo; the late $set_once is earlier.
    assert live_person("d")["properties"] == {"source": "seo", "tmp": 1}
    await run(
        outputs,
        ("d", "$pageview", {"$unset": ["tmp"]}, 6),
        ("d", "$pageview", {"$set": {"tmp": 0}}, 1),  # older than the $unset: stays unset
    )
    assert live_person("d")["properties"] == {"source": "seo"}
    versions = [row["version"] for row in rows(outputs, "persons")]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


async def test_delete_person_event_erases_it(outputs):
    await run(
        outputs,
        ("d", "$pageview", {"$set": {"plan": "pro"}}, 1),
        ("d", "$delete_person", {}, 2),
    )
    assert identities[identity_key(1, "d")][0] is None
    assert [r["is_deleted"] for r in rows(outputs, "persons")][-1] is True


async def test_a_backfilled_cohort_is_materialized_silently(outputs, cohort_definitions):
    from cohortstream.cohorts.definition import parse_definition

    cohort_definitions.append(
        parse_definition(
            {
                "id": "buyers",
                "project_id": 1,
                "name": "Buyers",
                "criteria": {
                    "type": "event",
                    "event": "purchase",
                    "check": "count",
                    "operator": "gte",
                    "value": 2,
                    "within": "1h",
                },
            }
        )
    )
    purchase = {"distinct_id": "b", "event": "purchase", "now": True}
    async with (
        ingest_events.test_context() as ingest,
        apply_identity_commands.test_context() as identity,
        update_persons.test_context() as person,
    ):
        pipeline = Pipeline(outputs, ingest, identity, person)
        # History before the cohort's backfill reached the partitions: counted, silent.
        await pipeline.send(**{**purchase, "properties": {"n": 0}})
        await pipeline.send(**{**purchase, "properties": {"n": 1}})
        assert outputs.cohort_transitions.records == []
        for partition in range(outputs.settings.topic_partitions):
            command = activate_command(1, "buyers", generation_of(cohort_definitions[0]), 0)
            await person.put([command], partition=partition)
        await pipeline.settle()
        assert outputs.cohort_transitions.records == []  # materialized without transitions
        assert [r["is_member"] for r in rows(outputs, "members")] == [True]
        assert all(activations[f"partition:{p}"] for p in range(outputs.settings.topic_partitions))
        # Live from here: the membership is read from the table like any other.
        await pipeline.send(**{**purchase, "properties": {"n": 2}})
        assert outputs.cohort_transitions.records == []  # still in: nothing to say
    assert cohorts_agent.registry.activation is not None


async def test_a_live_cohort_join_through_the_agents(outputs, cohort_definitions, monkeypatch):
    from cohortstream.cohorts.definition import parse_definition

    monkeypatch.setattr(cohorts_agent.registry, "activation", None)  # every cohort active
    cohort_definitions.append(
        parse_definition(
            {
                "id": "buyers",
                "project_id": 1,
                "name": "Buyers",
                "criteria": {
                    "type": "event",
                    "event": "purchase",
                    "check": "count",
                    "operator": "gte",
                    "value": 2,
                    "within": "1h",
                },
            }
        )
    )
    purchase = {"distinct_id": "b", "event": "purchase", "now": True}
    # Distinct payloads: identical ones without a uuid are one event delivered twice.
    await run(outputs, {**purchase, "properties": {"n": 1}}, {**purchase, "properties": {"n": 2}})
    [transition] = [orjson.loads(r.value) for r in outputs.cohort_transitions.records]
    assert (transition["cohort_id"], transition["kind"], transition["source"]) == (
        "buyers",
        "entered",
        "event",
    )
    assert [r["cohort_id"] for r in rows(outputs, "transitions")] == ["buyers"]
    assert [r["is_member"] for r in rows(outputs, "members")] == [True]
