"""A cohort's assignment state: exactly once per entrant across redelivery and
restarts, parked entrants assigned once an owner is back."""

from collections import Counter

from cohortstream.assignment.state import (
    ASSIGNED,
    PARKED,
    Rule,
    drain_parked,
    new_state,
    take_transition,
)
from cohortstream.assignment.strategies import Owner

RULE = Rule(
    1,
    "trial-power-users",
    "capacity_weighted",
    [
        Owner("ana", daily_capacity=50),
        Owner("ben", daily_capacity=30),
        Owner("cy", daily_capacity=20),
    ],
)


def entered(n, kind="entered"):
    return {
        "idempotency_key": f"cohort:trial-power-users:p{n}:{kind}:1",
        "person_id": f"p{n}",
        "kind": kind,
        "at": 1_700_000_000 + n,
    }


def run(state, rule, transitions, positions=None):
    rows = []
    for offset, transition in transitions:
        outcome = take_transition(state, rule, transition, offset, positions)
        state = outcome.state
        rows.extend(outcome.assignments)
    return state, rows


def test_redelivered_transitions_assign_nobody_twice_and_keep_the_rotation():
    stream = [(n, entered(n)) for n in range(100)]
    state, rows = run(new_state(), RULE, stream[:60])
    # A restart: the table is at offset 59, the consumer resumes from offset 40.
    state, more = run(state, RULE, stream[40:])
    rows += more
    assert len(rows) == 100 and len({r["idempotency_key"] for r in rows}) == 100
    assert Counter(r["owner_id"] for r in rows) == {"ana": 50, "ben": 30, "cy": 20}


def test_a_repeated_transition_at_a_new_offset_moves_the_rotation_no_more():
    positions: dict[str, int] = {}  # what PostgreSQL holds, shared across batches
    state, rows = run(new_state(), RULE, [(n, entered(n)) for n in range(60)], positions)
    # The person actor crashed and sent its last batch (p50..p59) again, later.
    repeats = [(60 + i, entered(50 + i)) for i in range(10)]
    fresh = [(70 + i, entered(60 + i)) for i in range(40)]
    state, more = run(state, RULE, repeats + fresh, positions)
    rows += more
    assert [r["person_id"] for r in more] == [f"p{n}" for n in range(60, 100)]
    assert Counter(r["owner_id"] for r in rows) == {"ana": 50, "ben": 30, "cy": 20}
    assert state["n"] == 100


def test_a_table_behind_postgresql_resumes_the_rotation_where_it_was():
    positions: dict[str, int] = {}
    _, written = run(new_state(), RULE, [(n, entered(n)) for n in range(10)], positions)
    # Crash after PostgreSQL took p0..p9, before the table did: it still says n=0.
    state, again = run(new_state(), RULE, [(n, entered(n)) for n in range(20)], positions)
    assert again[:10] == written  # the same owners, at the same positions
    assert [r["seq"] for r in again] == list(range(20)) and state["n"] == 20


def test_leaves_move_the_offset_but_assign_nothing():
    state, rows = run(new_state(), RULE, [(0, entered(0, "left")), (1, entered(1))])
    assert [r["person_id"] for r in rows] == ["p1"] and state["last_offset"] == 1


def test_entrants_wait_while_every_owner_is_inactive_then_go_in_order():
    away = Rule(1, "trial-power-users", "round_robin", [Owner("ana", active=False)])
    state, rows = run(new_state(), away, [(n, entered(n)) for n in range(3)])
    assert [r["status"] for r in rows] == [PARKED] * 3 and state["n"] == 0
    state, again = run(state, away, [(1, entered(1))])  # redelivered: parked once
    assert again == [] and len(state["parked"]) == 3
    back = Rule(1, "trial-power-users", "round_robin", [Owner("ana"), Owner("ben")])
    outcome = drain_parked(state, back)
    assert [(r["person_id"], r["owner_id"], r["status"]) for r in outcome.assignments] == [
        ("p0", "ana", ASSIGNED),
        ("p1", "ben", ASSIGNED),
        ("p2", "ana", ASSIGNED),
    ]
    assert outcome.state["parked"] == [] and outcome.state["n"] == 3
