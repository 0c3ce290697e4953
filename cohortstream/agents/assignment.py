"""assign_entrants: cohort entrants to owners, as they enter.

Consumes cohort_transitions (keyed ``project:cohort``, so each cohort's
transitions are in order on one partition) and keeps each cohort's
assignment state in a changelog-backed table under the same key. Per batch:
work out the assignments, write them to PostgreSQL and the ``assignments``
topic (idempotent by key), and only then move the cohort's state, so a crash
in between repeats the same assignments rather than skipping or doubling any.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from cohortstream.agents import wiring
from cohortstream.assignment.state import (
    Rule,
    State,
    assignment_key,
    drain_parked,
    new_state,
    take_transition,
)
from cohortstream.retry import RetryPolicy, retry
from cohortstream.streams.app import app, cohort_transitions_topic
from cohortstream.streams.publishers import publish_durably
from cohortstream.tables.faust_tables import assignment_state

log = logging.getLogger(__name__)

RULES_REFRESH_S = 5.0
RULES_REFRESH_ON_DEMAND_S = 1.0  # a cohort without a rule may have just got one
WRITE = RetryPolicy("write assignments", attempts=0, base_delay_s=0.5, max_delay_s=10.0)
LOOK_UP = RetryPolicy("look up assignments", attempts=0, base_delay_s=0.5, max_delay_s=10.0)

_rules: dict[str, Rule] = {}
_rules_loaded_at = 0.0


async def rules(wanted: set[str] | None = None, needed: set[str] | None = None) -> dict[str, Rule]:
    """The rules, refreshed every few seconds, sooner when ``wanted`` names a
    cohort without one, and at once when ``needed`` does: a bulk job is only
    started once its cohort has a rule, so a missing one is a stale cache."""
    global _rules, _rules_loaded_at
    load = wiring.current.load_assignment_rules
    age = time.monotonic() - _rules_loaded_at
    stale = (
        age >= RULES_REFRESH_S
        or bool(needed and not needed <= _rules.keys())
        or (bool(wanted and not wanted <= _rules.keys()) and age >= RULES_REFRESH_ON_DEMAND_S)
    )
    if load is not None and stale:
        try:
            _rules = await load()
            _rules_loaded_at = time.monotonic()
        except Exception as exc:
            log.warning("assignment rules refresh failed, keeping the last: %s", exc)
    return _rules


@app.agent(cohort_transitions_topic)
async def assign_entrants(stream: Any) -> None:
    async for events in stream.take_events(200, within=0.1):
        taken = [
            (event.message.offset, event.value)
            for event in events
            if isinstance(event.value, dict) and "cohort_id" in event.value
        ]
        needed = {_key(t) for _, t in taken if t.get("source") == "bulk"}
        current = await rules(wanted={_key(transition) for _, transition in taken}, needed=needed)
        for key in needed - current.keys():
            log.warning("bulk entrants of %s dropped: its assignment rule is gone", key)
        taken = [(offset, t) for offset, t in taken if _key(t) in current]
        positions = await assigned_before(taken)
        states: dict[str, State] = {}
        rows: list[dict[str, Any]] = []
        for offset, transition in taken:
            key = _key(transition)
            state = states.get(key) or assignment_state.get(key) or new_state()
            outcome = take_transition(state, current[key], transition, offset, positions)
            states[key] = outcome.state
            rows.extend(outcome.assignments)
        await hand_over(rows)  # retried until done: before the state moves on
        for key, state in states.items():
            assignment_state[key] = state


@app.timer(RULES_REFRESH_S)
async def assign_parked() -> None:
    """Entrants parked while every owner was away go out once one is back."""
    current = await rules()
    for key, state in list(assignment_state.items()):
        rule = current.get(key)
        if not state.get("parked") or rule is None:
            continue
        outcome = drain_parked(state, rule)
        if outcome.state["n"] == state["n"]:
            continue  # still nobody active
        await hand_over(outcome.assignments)
        assignment_state[key] = outcome.state


async def assigned_before(taken: list[tuple[int, dict[str, Any]]]) -> dict[str, int]:
    """Rotation positions of the batch's entrants assigned before (a repeat)."""
    look_up = wiring.current.assigned_positions
    keys = [
        assignment_key(t) for _, t in taken if t.get("kind") == "entered" and "idempotency_key" in t
    ]
    if not keys or look_up is None:
        return {}
    return await retry(LOOK_UP, lambda: look_up(keys), "look up assignments")


def _key(transition: dict[str, Any]) -> str:
    return f"{transition.get('project_id')}:{transition.get('cohort_id')}"


async def hand_over(rows: list[dict[str, Any]]) -> None:
    outputs = wiring.current
    if not rows or outputs.write_assignments is None:
        return
    write = outputs.write_assignments
    await retry(WRITE, lambda: write(rows), "write assignments")
    if outputs.assignments is not None:
        for row in rows:
            await publish_durably(
                outputs.assignments,
                row["idempotency_key"].encode(),
                orjson.dumps(row),
                what="send assignments",
            )
