"""One cohort's assignment state: how many entrants its rule has assigned, which
transition offset it has taken last, and the entrants parked for lack of an owner.

Kept per cohort in a changelog-backed table, keyed like the cohort_transitions
topic (``project:cohort``), so one worker owns a cohort's assignments and a
restart resumes from the table. A transition at or below ``last_offset`` was
taken before (redelivered after a restart): it assigns nobody twice, and the
counter, hence the rotation, does not move.

Each assignment records its rotation position (``seq``). The person actor may
repeat a transition at a new offset after a crash; its key then comes back
with a position below the counter and is not counted again. A position at or
above the counter means the table is behind PostgreSQL (a crash between the
two writes) and the rotation resumes from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cohortstream.assignment.strategies import NoActiveOwner, Owner, Strategy, owner_for

ASSIGNED = "assigned"
PARKED = "parked"

State = dict[str, Any]  # {"n": int, "last_offset": int, "parked": [transition, ...]}


@dataclass(frozen=True)
class Rule:
    project_id: int
    cohort_id: str
    strategy: Strategy
    owners: list[Owner]


@dataclass
class Outcome:
    state: State
    assignments: list[dict[str, Any]] = field(default_factory=list)


def new_state() -> State:
    return {"n": 0, "last_offset": -1, "parked": []}


def take_transition(
    state: State,
    rule: Rule,
    transition: dict[str, Any],
    offset: int,
    positions: dict[str, int] | None = None,
) -> Outcome:
    """An ``entered`` transition of the rule's cohort, at ``offset`` of its partition.

    ``positions`` holds the rotation position of keys assigned before (from
    PostgreSQL) and gains the ones this call assigns.
    """
    if offset <= state["last_offset"]:
        return Outcome(state)  # taken before
    updated = {**state, "last_offset": offset}
    if transition.get("kind") != "entered" or transition.get("source") == "late":
        return Outcome(updated)  # a late correction's entry is over already
    outcome = Outcome(updated)
    _assign_or_park(outcome, rule, transition, {} if positions is None else positions)
    return outcome


def drain_parked(state: State, rule: Rule) -> Outcome:
    """Assign parked entrants, oldest first, once an owner is active again."""
    outcome = Outcome({**state, "parked": []})
    for transition in state["parked"]:
        _assign_or_park(outcome, rule, transition, {})
    return outcome


def assignment_key(transition: dict[str, Any]) -> str:
    return f"assign:{transition['idempotency_key']}"


def _assign_or_park(
    outcome: Outcome, rule: Rule, transition: dict[str, Any], positions: dict[str, int]
) -> None:
    state = outcome.state
    key = assignment_key(transition)
    position = positions.get(key)
    if position is not None and position < state["n"]:
        return  # a repeat of an entrant counted already
    if position is not None:
        state["n"] = position  # the table is behind PostgreSQL: resume where it was
    try:
        owner = owner_for(rule.strategy, rule.owners, state["n"])
    except NoActiveOwner:
        if not any(p["idempotency_key"] == transition["idempotency_key"] for p in state["parked"]):
            state["parked"] = [*state["parked"], transition]
            outcome.assignments.append(_row(key, rule, transition, None, PARKED, None))
        return
    positions[key] = state["n"]
    outcome.assignments.append(_row(key, rule, transition, owner, ASSIGNED, state["n"]))
    state["n"] += 1


def _row(
    key: str,
    rule: Rule,
    transition: dict[str, Any],
    owner: str | None,
    status: str,
    seq: int | None,
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "project_id": rule.project_id,
        "cohort_id": rule.cohort_id,
        "person_id": transition["person_id"],
        "owner_id": owner,
        "status": status,
        "entered_at": transition["at"],
        "strategy": rule.strategy,
        "seq": seq,
    }
