"""One cohort's assignment state: how many entrants its rule has assigned, which
transition offset it has taken last, and the entrants parked for lack of an owner.

Kept per cohort in a changelog-backed table, keyed like the cohort_transitions
topic (``project:cohort``), so one worker owns a cohort's assignments and a
restart resumes from the table. A transition at or below ``last_offset`` was
taken before (redelivered after a restart): it assigns nobody twice, and the
counter, hence the rotation, does not move.
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


def take_transition(state: State, rule: Rule, transition: dict[str, Any], offset: int) -> Outcome:
    """An ``entered`` transition of the rule's cohort, at ``offset`` of its partition."""
    if offset <= state["last_offset"]:
        return Outcome(state)  # taken before
    updated = {**state, "last_offset": offset}
    if transition.get("kind") != "entered":
        return Outcome(updated)
    outcome = Outcome(updated)
    _assign_or_park(outcome, rule, transition)
    return outcome


def drain_parked(state: State, rule: Rule) -> Outcome:
    """Assign parked entrants, oldest first, once an owner is active again."""
    outcome = Outcome({**state, "parked": []})
    for transition in state["parked"]:
        _assign_or_park(outcome, rule, transition)
    return outcome


def _assign_or_park(outcome: Outcome, rule: Rule, transition: dict[str, Any]) -> None:
    state = outcome.state
    key = f"assign:{transition['idempotency_key']}"
    try:
        owner = owner_for(rule.strategy, rule.owners, state["n"])
    except NoActiveOwner:
        if not any(p["idempotency_key"] == transition["idempotency_key"] for p in state["parked"]):
            state["parked"] = [*state["parked"], transition]
            outcome.assignments.append(_row(key, rule, transition, None, PARKED))
        return
    state["n"] += 1
    outcome.assignments.append(_row(key, rule, transition, owner, ASSIGNED))


def _row(
    key: str, rule: Rule, transition: dict[str, Any], owner: str | None, status: str
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
    }
