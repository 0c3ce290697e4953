"""Why a person is (or is not) in a cohort: the criteria tree, evaluated, with what
each leaf read.

Every node carries ``matches`` and ``next_change`` exactly as ``evaluate``
computes them (it is called for each node), so the explanation cannot drift
from the decision; leaves add their inputs: the occurrences an event
condition counted and the window they fell in, the property value a person
condition compared, the membership a cohort condition read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cohortstream.cohorts import periods as calendar
from cohortstream.cohorts.counters import (
    MAX_SEQUENCE_POINTS,
    Counter,
    count_within,
    first_occurrence,
    gap_points,
    period_list,
    range_points,
    sequence_points,
    spec_key,
    total,
)
from cohortstream.cohorts.definition import (
    AndCondition,
    CohortCondition,
    EventCondition,
    NotCondition,
    OrCondition,
    PersonCondition,
    SequenceCondition,
)
from cohortstream.cohorts.evaluate import MISSING, evaluate, restarts, sequence_ends
from cohortstream.cohorts.thinning import in_window


def explain(
    condition: Any,
    *,
    now: int,
    properties: Mapping[str, Any],
    counters: Mapping[str, Counter],
    memberships: Mapping[str, bool],
) -> dict[str, Any]:
    def node(c: Any) -> dict[str, Any]:
        outcome = evaluate(
            c, now=now, properties=properties, counters=counters, memberships=memberships
        )
        return {"matches": outcome.matches, "next_change": outcome.next_change, **_details(c)}

    def _details(c: Any) -> dict[str, Any]:
        if isinstance(c, EventCondition):
            return _event(c, now, counters.get(spec_key(c)))
        if isinstance(c, SequenceCondition):
            return _sequence(c, now, counters)
        if isinstance(c, PersonCondition):
            value = properties.get(c.key, MISSING)
            return {
                "type": "person",
                "key": c.key,
                "operator": c.operator,
                "value": c.value,
                "is_set": value is not MISSING,
                "actual": None if value is MISSING else value,
            }
        if isinstance(c, CohortCondition):
            return {
                "type": "cohort",
                "cohort_id": c.cohort_id,
                "member": c.member,
                "is_member": memberships.get(c.cohort_id, False),
            }
        if isinstance(c, NotCondition):
            return {"type": "not", "condition": node(c.condition)}
        if isinstance(c, (AndCondition, OrCondition)):
            kind = "and" if isinstance(c, AndCondition) else "or"
            return {"type": kind, "conditions": [node(inner) for inner in c.conditions]}
        raise TypeError(f"unknown condition {c!r}")

    return node(condition)


def _sequence(
    condition: SequenceCondition, now: int, counters: Mapping[str, Counter]
) -> dict[str, Any]:
    window = condition.window_seconds
    ends = sequence_ends(condition, counters)
    return {
        "type": "sequence",
        "within": condition.within,
        "steps": [step.model_dump(exclude_none=True) for step in condition.steps],
        "window": {"after": now - window, "until": now},
        # Times of the last step's occurrences that complete the steps in order.
        "completed_at": [at for at in ends if now - window < at <= now],
        # Steps whose list is full: chains through older occurrences are missed.
        "steps_at_cap": [
            number
            for number, (step, step_list) in enumerate(
                zip(condition.steps, condition.step_lists, strict=True), start=1
            )
            if len(sequence_points(counters.get(step.spec_key), *step_list)) >= MAX_SEQUENCE_POINTS
        ],
    }


def _event(condition: EventCondition, now: int, counter: Counter | None) -> dict[str, Any]:
    described: dict[str, Any] = {
        "type": "event",
        "event": condition.event,
        "where": [f.model_dump() for f in condition.where],
        "check": condition.check,
        "operator": condition.operator,
        "value": condition.value,
        "within": condition.within,
    }
    for optional in ("between", "gap", "of_last", "period"):
        if getattr(condition, optional) is not None:
            described[optional] = getattr(condition, optional)
    window = condition.window_seconds
    if condition.check == "first_time" and window is not None:
        first = first_occurrence(counter)
        return {
            **described,
            "first": None if first is None else {"at": first[0], "uuid": first[1]},
            "window": {"after": now - window, "until": now},
        }
    if condition.check == "regularly":
        period, of_last = condition.period_seconds or 0, condition.of_last or 1
        counted = calendar.counted(period_list(counter, period), now, period, of_last)
        current = calendar.index_of(now, period)
        return {
            **described,
            "periods_counted": len(counted),
            "since": calendar.start_of(current - of_last + 1, period),
            "periods": [
                {"starts": calendar.start_of(index, period), "first_at": at}
                for index, at in counted
            ],
        }
    if condition.check == "started_again" and window is not None:
        gap = condition.gap_seconds or 0
        found = restarts(gap_points(counter, gap), gap)
        return {
            **described,
            "window": {"after": now - window, "until": now},
            "restarts": [
                {"at": at, "uuid": uuid} for at, uuid in found if now - window < at <= now
            ],
        }
    span = condition.range_seconds
    if span is not None:
        start, end = span
        inside = in_window(range_points(counter, start, end), now - start, now - end)
        # A range keeps only the occurrences that can still decide its answer.
        described = {
            **described,
            "count": len(inside),
            "range": {"after": now - start, "until": now - end},
            "occurrences": [{"at": at, "uuid": uuid} for at, uuid in inside],
        }
        if condition.check == "stopped":
            described["since_range"] = count_within(counter, now, end)
        return described
    if window is None:
        # Totals are kept up to what the condition needs (its value + 1): "at least".
        return {**described, "count": total(counter)}
    kept = counter["ts"] if counter else []
    return {
        **described,
        "count": count_within(counter, now, window),
        "window": {"after": now - window, "until": now},
        "occurrences": [{"at": at, "uuid": uuid} for at, uuid in kept if now - window < at <= now],
    }
