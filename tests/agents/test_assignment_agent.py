"""assign_entrants under test_context: exact shares; neither redelivery nor a
repeated transition assigns anybody twice or moves the rotation."""

import asyncio
from collections import Counter

import orjson

from cohortstream.agents import assignment
from cohortstream.agents.assignment import assign_entrants
from cohortstream.assignment.state import Rule
from cohortstream.assignment.strategies import Owner
from cohortstream.streams.publishers import MemoryPublisher
from cohortstream.tables.faust_tables import assignment_state

RULE = Rule(
    1,
    "trial",
    "capacity_weighted",
    [
        Owner("ana", daily_capacity=50),
        Owner("ben", daily_capacity=30),
        Owner("cy", daily_capacity=20),
    ],
)


def entered(n):
    return {
        "idempotency_key": f"cohort:trial:p{n}:entered:1",
        "cohort_id": "trial",
        "project_id": 1,
        "person_id": f"00000000-0000-4000-8000-{n:012d}",
        "kind": "entered",
        "entry_count": 1,
        "at": 1_700_000_000 + n,
        "source": "event",
    }


class FakeStore:
    """The rules and assignments PostgreSQL would hold."""

    def __init__(self, rules):
        self.rules = rules
        self.written: list[dict] = []

    async def load_rules(self):
        return dict(self.rules)

    async def write(self, rows):
        self.written.extend(rows)

    async def positions(self, keys):
        return {
            r["idempotency_key"]: r["seq"] for r in self.written if r["idempotency_key"] in keys
        }


def wire(monkeypatch, outputs, rules):
    store = FakeStore(rules)
    monkeypatch.setattr(outputs, "load_assignment_rules", store.load_rules)
    monkeypatch.setattr(outputs, "write_assignments", store.write)
    monkeypatch.setattr(outputs, "assigned_positions", store.positions)
    monkeypatch.setattr(outputs, "assignments", MemoryPublisher())
    monkeypatch.setattr(assignment, "_rules_loaded_at", 0.0)
    return store


async def test_entrants_are_assigned_once_in_exact_shares(outputs, changelog, monkeypatch):
    store = wire(monkeypatch, outputs, {"1:trial": RULE})
    written = store.written
    async with assign_entrants.test_context() as agent:
        for n in range(60):
            await agent.put(entered(n), key=b"1:trial")
        agent.sent_offset = 40  # redelivered after a restart: offsets 40.. again
        for n in range(40, 70):
            await agent.put(entered(n), key=b"1:trial")
        for n in range(60, 70):  # the person actor repeats a batch at new offsets
            await agent.put(entered(n), key=b"1:trial")
        for n in range(70, 100):
            await agent.put(entered(n), key=b"1:trial")
        await agent.put({"kind": "entered"}, key=b"1:trial")  # not a transition: ignored
    assert len(written) == 100
    assert len({row["idempotency_key"] for row in written}) == 100
    assert Counter(row["owner_id"] for row in written) == {"ana": 50, "ben": 30, "cy": 20}
    assert assignment_state["1:trial"]["n"] == 100
    published = [orjson.loads(r.value) for r in outputs.assignments.records]
    assert [p["idempotency_key"] for p in published] == [r["idempotency_key"] for r in written]


async def test_a_bulk_job_finds_a_rule_made_just_after_the_last_refresh(
    outputs, changelog, monkeypatch
):
    """The job is started only once its rule exists, so the agent must not drop its
    entrants because its cached rules are a moment older than the rule."""
    store = wire(monkeypatch, outputs, {})
    async with assign_entrants.test_context() as agent:
        await agent.put(entered(1), key=b"1:trial")  # loads the rules: none yet
        await asyncio.sleep(0.3)  # past take_events' 0.1 s: a batch of its own
        store.rules["1:trial"] = RULE  # the rule is saved, then the job sends at once
        bulk = {**entered(2), "idempotency_key": "bulk:j1:trial:p2", "source": "bulk"}
        await agent.put(bulk, key=b"1:trial")
    assert [row["idempotency_key"] for row in store.written] == ["assign:bulk:j1:trial:p2"]
