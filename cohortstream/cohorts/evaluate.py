"""Criteria against one person at one moment: the result, and when it can next change.

``next_change`` is the earliest time at which the result may flip with no
new input (an occurrence leaving a window, a future-stamped one entering):
the moment the person's timer must fire. None means only new input can.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any, NamedTuple

from cohortstream.cohorts import periods as calendar
from cohortstream.cohorts.counters import (
    Counter,
    first_occurrence,
    gap_points,
    period_list,
    range_points,
    sequence_points,
    total,
    window_state,
)
from cohortstream.cohorts.definition import (
    AndCondition,
    CohortCondition,
    EventCondition,
    NotCondition,
    OrCondition,
    PersonCondition,
    PropertyFilter,
    SequenceCondition,
)
from cohortstream.cohorts.sequences import chain_ends, window_outcome
from cohortstream.cohorts.thinning import Point, in_window

MISSING = object()  # a property the person or event does not have


class Outcome(NamedTuple):  # a tuple: built for every condition of every evaluation
    matches: bool
    next_change: int | None = None


def _earliest(*times: int | None) -> int | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


def evaluate(
    condition: Any,
    now: int,
    properties: Mapping[str, Any],
    counters: Mapping[str, Counter],
    memberships: Mapping[str, bool],
) -> Outcome:
    # Positional inside the recursion: it runs for every condition of every evaluation.
    kind = type(condition)
    if kind is EventCondition:
        return _event(condition, now, counters.get(condition.spec_key))
    if kind is SequenceCondition:
        return Outcome(
            *window_outcome(sequence_ends(condition, counters), now, condition.window_seconds)
        )
    if kind is PersonCondition:
        value = properties.get(condition.key, MISSING)
        return Outcome(compare(condition.operator, value, condition.value))
    if kind is CohortCondition:
        return Outcome(memberships.get(condition.cohort_id, False) == condition.member)
    if kind is NotCondition:
        inner = evaluate(condition.condition, now, properties, counters, memberships)
        return Outcome(not inner.matches, inner.next_change)
    if kind is AndCondition or kind is OrCondition:
        outcomes = [
            evaluate(c, now, properties, counters, memberships) for c in condition.conditions
        ]
        combine = all if kind is AndCondition else any
        return Outcome(
            combine(o.matches for o in outcomes), _earliest(*(o.next_change for o in outcomes))
        )
    raise TypeError(f"unknown condition {condition!r}")


def _event(condition: EventCondition, now: int, counter: Counter | None) -> Outcome:
    window = condition.window_seconds
    check = condition.check
    if check == "first_time" and window is not None:
        return first_time(first_occurrence(counter), now, window)
    if check == "regularly":
        period = condition.period_seconds or 0
        periods = period_list(counter, period)
        of_last = condition.of_last or 1
        counted = len(calendar.counted(periods, now, period, of_last))
        change = calendar.next_change(periods, now, period, of_last)
        return Outcome(counted >= (condition.value or 1), change)
    if check == "started_again" and window is not None:
        gap = condition.gap_seconds or 0
        return started_again(gap_points(counter, gap), now, gap, window)
    span = condition.range_seconds
    if span is not None:
        start, end = span
        points = range_points(counter, start, end)
        inside = len(in_window(points, now - start, now - end))
        change = range_change(points, now, start, end)
        if check == "stopped":
            since, since_change = window_state(counter, now, end)
            change = _earliest(change, since_change)
            return Outcome(inside > 0 and since == 0, change)
        return Outcome(_counted(condition, inside), change)
    if window is None:
        return Outcome(_counted(condition, total(counter)))
    count, change = window_state(counter, now, window)
    return Outcome(_counted(condition, count), change)


def sequence_ends(condition: SequenceCondition, counters: Mapping[str, Counter]) -> list[int]:
    """When the sequence's chains end, from each step's kept occurrences."""
    steps = [
        sequence_points(counters.get(step.spec_key), *step_list)
        for step, step_list in zip(condition.steps, condition.step_lists, strict=True)
    ]
    return chain_ends(steps, condition.gaps)


def _counted(condition: EventCondition, count: int) -> bool:
    if condition.check == "exists":
        return count > 0
    if condition.check == "not_exists":
        return count == 0
    return compare(condition.operator or "gte", count, condition.value)


def range_change(points: list[Point], now: int, start: int, end: int) -> int | None:
    """When a kept occurrence next enters (time + end) or leaves (time + start) the range."""
    moments = [m for at, _ in points for m in (at + end, at + start) if m > now]
    return min(moments) if moments else None


def restarts(points: list[Point], gap: int) -> list[Point]:
    """Occurrences that came at least ``gap`` after the one before them."""
    return [later for earlier, later in pairwise(points) if later[0] - earlier[0] >= gap]


def started_again(points: list[Point], now: int, gap: int, window: int) -> Outcome:
    """A restart lies in (now - window, now]: it counts from its time for ``window``."""
    found = restarts(points, gap)
    inside = [at for at, _ in found if now - window < at <= now]
    moments = [at + window for at in inside] + [at for at, _ in found if at > now]
    return Outcome(bool(inside), min(moments) if moments else None)


def first_time(first: list[Any] | None, now: int, window: int) -> Outcome:
    """The first occurrence lies in (now - window, now]; it enters when its time comes
    and leaves ``window`` later. A late event stamped earlier moves it back."""
    if first is None:
        return Outcome(False)
    at = first[0]
    if at > now:
        return Outcome(False, at)
    if at > now - window:
        return Outcome(True, at + window)
    return Outcome(False)


def matches_filters(filters: list[PropertyFilter], properties: Mapping[str, Any]) -> bool:
    """An event's ``where``: every filter holds on its properties."""
    return all(compare(f.operator, properties.get(f.key, MISSING), f.value) for f in filters)


def compare(operator: str, actual: Any, expected: Any) -> bool:
    """One operator; a missing or incomparable value never matches (except the negations)."""
    if operator == "is_set":
        return actual is not MISSING and actual is not None
    if operator == "is_not_set":
        return actual is MISSING or actual is None
    if operator == "neq":
        return actual is MISSING or actual != expected
    if operator == "not_in":
        return actual is MISSING or actual not in expected
    if actual is MISSING or actual is None:
        return False
    if operator == "eq":
        return bool(actual == expected)
    if operator == "in":
        return actual in expected
    if operator == "contains":
        return isinstance(actual, str) and str(expected) in actual
    if operator == "regex":
        return isinstance(actual, str) and re.search(expected, actual) is not None
    return _ordered(operator, actual, expected)


def _ordered(operator: str, actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if isinstance(expected, (int, float)) and isinstance(actual, str):
        try:
            actual = float(actual)  # numbers arrive as text from some SDKs
        except ValueError:
            return False
    if type(actual) is not type(expected) and not (
        isinstance(actual, (int, float)) and isinstance(expected, (int, float))
    ):
        return False
    if operator == "gt":
        return bool(actual > expected)
    if operator == "gte":
        return bool(actual >= expected)
    if operator == "lt":
        return bool(actual < expected)
    if operator == "lte":
        return bool(actual <= expected)
    raise ValueError(f"unknown operator {operator!r}")
