"""Cohort memberships and transitions computed from scratch: the batch oracle.

A sequential pass over the raw event log in arrival order (``created_at``),
with persons from the persons oracle. Unlike the stream it keeps every
occurrence and counts windows directly, so it checks the bounded counters,
the timers (it evaluates every person at every moment its result could
change: an occurrence entering or leaving a window, a dwell ending) and the
merge and delete rules, and manual cohorts. Dwell and entry rules are ``membership.step``, the
definition of those rules, which has tests of its own.

Events arriving in the same second are taken to be of different persons
(the stream gives no order between two of one person's events in one second).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from itertools import pairwise
from typing import Any

from cohortstream.cohorts import late
from cohortstream.cohorts import periods as calendar
from cohortstream.cohorts.definition import (
    AndCondition,
    CohortCondition,
    CohortDefinition,
    EventCondition,
    NotCondition,
    OrCondition,
    PersonCondition,
    SequenceCondition,
    dependency_order,
)
from cohortstream.cohorts.evaluate import MISSING, compare, matches_filters
from cohortstream.cohorts.membership import ENTERED, LEFT, Membership, step, transition
from cohortstream.cohorts.registry import event_conditions, leaf_conditions
from cohortstream.oracle.persons import PersonsOracle, _Group
from cohortstream.tables.identities import MANUAL_MEMBERSHIP_EVENT, manual_membership


class CohortsOracle(PersonsOracle):
    def __init__(
        self, definitions: Iterable[CohortDefinition], late_corrections_within_s: int = 0
    ) -> None:
        super().__init__()
        self.late_within = late_corrections_within_s
        by_project: dict[int, list[CohortDefinition]] = {}
        for definition in definitions:
            by_project.setdefault(definition.project_id, []).append(definition)
        self._cohorts = {
            project: [d for d in dependency_order(defs) if d.kind == "dynamic"]
            for project, defs in by_project.items()
        }
        self._manual = {
            project: {d.id: d for d in defs if d.kind == "manual"}
            for project, defs in by_project.items()
        }
        # How long after an occurrence a result reading it may change (windows,
        # range ends), and the calendar periods whose ends may change one.
        conditions = {
            project: [c for d in defs for c in event_conditions(d.criteria)]
            for project, defs in self._cohorts.items()
        }
        self._delays = {
            project: sorted({*delays_of(found), *sequence_windows(self._cohorts[project])})
            for project, found in conditions.items()
        }
        self._periods = {project: periods_of(found) for project, found in conditions.items()}
        # Per person id (live or deleted): occurrences and memberships.
        self._occurrences: dict[str, dict[str, tuple[int, str, dict[str, Any]]]] = {}
        self._memberships: dict[str, dict[str, Membership]] = {}
        self._live: dict[str, tuple[int, _Group]] = {}
        # person id -> (its occurrences dict, their count, the moments they make)
        self._moments: dict[str, tuple[dict[str, Any], int, list[int]]] = {}
        # (person id, spec) -> (its occurrences dict, their count, the times it reads)
        self._times_kept: dict[tuple[str, str], tuple[dict[str, Any], int, Any]] = {}
        self.transitions: list[dict[str, Any]] = []
        self._handed_over: list[str] = []
        self.clock = 0  # the moment of the event being applied
        self._timers_through = 0  # every moment up to here has been evaluated

    # -- the pass ---------------------------------------------------------------

    def apply(self, event: dict[str, Any]) -> None:
        received = event["created_at_us"] // 1_000_000
        self.advance(received - 1)
        self.clock = max(self.clock, received)
        start = len(self.transitions)
        super().apply(event)
        # What the event itself caused names it; what a merge it made caused does not.
        for change in self.transitions[start:]:
            caused = change["source"] in ("event", "manual", "delete", "late")
            change["event_uuid"] = event["uuid"] if caused else ""

    def advance(self, now: int) -> None:
        """Evaluate every person at every moment up to ``now`` its result could change."""
        while True:
            due: dict[int, list[str]] = {}
            for person_id in self._live:
                moment = self._next_moment(person_id)
                if moment is not None and moment <= now:
                    due.setdefault(moment, []).append(person_id)
            if not due:
                break
            moment = min(due)
            self.clock = moment
            start = len(self.transitions)
            for person_id in due[moment]:
                self._evaluate(person_id, moment, "timer")
            for change in self.transitions[start:]:
                change["event_uuid"] = ""  # a deadline: its moment is ``at``
            self._timers_through = moment
        self.clock = max(self.clock, now)
        self._timers_through = max(self._timers_through, now)

    def members(self) -> set[tuple[str, str]]:
        """(cohort id, person id) of every current membership."""
        return {
            (cohort_id, person_id)
            for person_id in self._live
            for cohort_id, membership in self._memberships.get(person_id, {}).items()
            if membership.member
        }

    # -- hooks from the persons oracle ------------------------------------------

    def _new_group(self, person_id: str, distinct_id: str) -> _Group:
        group = super()._new_group(person_id, distinct_id)
        self._occurrences[person_id] = {}
        return group

    def _received(self, group: _Group, event: dict[str, Any]) -> None:
        project_id = event["project_id"]
        self._live[group.id] = (project_id, group)
        occurrences = self._occurrences[group.id]
        at = event["timestamp_us"] // 1_000_000
        before = None if event["uuid"] in occurrences else dict(occurrences)
        occurrences.setdefault(event["uuid"], (at, event["event"], event["properties"]))
        if before is not None and at < self.clock <= at + self.late_within:
            self._correct_late(group.id, before, at, event["uuid"])
        manual = manual_membership(event["properties"])
        if event["event"] == MANUAL_MEMBERSHIP_EVENT and isinstance(manual, dict):
            self._set_manual(group.id, manual["cohort_id"], manual["member"], "manual")
        self._evaluate(group.id, self.clock, "event")

    def _deleting(self, group: _Group, event: dict[str, Any]) -> None:
        self._leave_all(group.id, "delete")
        self._live.pop(group.id, None)
        self._occurrences[group.id] = {}

    def _merging(self, survivor: _Group, loser: _Group, event: dict[str, Any]) -> None:
        project_id = event["project_id"]
        self._handed_over = [
            cohort_id
            for cohort_id in self._manual.get(project_id, {})
            if self._memberships.get(loser.id, {}).get(cohort_id, Membership()).member
        ]
        self._leave_all(loser.id, "merge")
        self._live.pop(loser.id, None)
        self._occurrences.setdefault(survivor.id, {}).update(self._occurrences.pop(loser.id, {}))

    def _merged(self, group: _Group, event: dict[str, Any]) -> None:
        self._live[group.id] = (event["project_id"], group)
        for cohort_id in self._handed_over:  # manual memberships follow the merge
            self._set_manual(group.id, cohort_id, True, "merge")
        self._evaluate(group.id, self.clock, "merge")

    def _correct_late(
        self,
        person_id: str,
        before: dict[str, tuple[int, str, dict[str, Any]]],
        at: int,
        event_uuid: str,
    ) -> None:
        """What the criteria were from ``at`` to now without and with the late
        occurrence, each from every occurrence at every moment it can change."""
        project_id, _ = self._live[person_id]
        after = self._occurrences[person_id]
        for definition in self._cohorts.get(project_id, []):
            if not late.correctable(definition):
                continue
            self._occurrences[person_id] = before
            without = self._history(definition, person_id, project_id, at)
            self._occurrences[person_id] = after
            with_it = self._history(definition, person_id, project_id, at)
            for kind, moment in late.differences(without, with_it, self.clock):
                self.transitions.append(
                    late.late_transition(definition, person_id, kind, moment, event_uuid)
                )

    def _history(
        self, definition: CohortDefinition, person_id: str, project_id: int, start: int
    ) -> late.History:
        delays, periods = self._delays.get(project_id, []), self._periods.get(project_id, [])
        moments = {start} | {
            m
            for at, _, _ in self._occurrences[person_id].values()
            for m in change_moments(at, delays, periods)
            if start < m <= self.clock
        }
        found: late.History = []
        for moment in sorted(moments):
            holds = self._holds(definition.criteria, person_id, moment, {}, {})
            if not found or found[-1][1] != holds:
                found.append((moment, holds))
        return found

    def _set_manual(self, person_id: str, cohort_id: str, member: bool, source: str) -> None:
        project_id, _ = self._live[person_id]
        definition = self._manual.get(project_id, {}).get(cohort_id)
        memberships = self._memberships.setdefault(person_id, {})
        current = memberships.get(cohort_id, Membership())
        if definition is None or current.member == member:
            return
        if member:
            entries = current.entries + 1
            limit = definition.max_entries
            updated = Membership(True, self.clock, entries, limit is None or entries <= limit)
            announce = updated.announced
        else:
            updated = Membership(False, None, current.entries)
            announce = current.announced
        memberships[cohort_id] = updated
        if announce:
            kind = ENTERED if member else LEFT
            self.transitions.append(
                transition(definition, person_id, kind, updated.entries, self.clock, source)
            )

    # -- evaluation ---------------------------------------------------------------

    def _evaluate(self, person_id: str, now: int, source: str) -> None:
        project_id, group = self._live[person_id]
        properties = group.state["properties"]
        memberships = self._memberships.setdefault(person_id, {})
        members = {
            cohort_id: memberships.get(cohort_id, Membership()).member
            for cohort_id in self._manual.get(project_id, {})
        }
        for definition in self._cohorts.get(project_id, []):
            matches = self._holds(definition.criteria, person_id, now, properties, members)
            current = memberships.get(definition.id, Membership())
            result = step(definition, person_id, current, matches, now, source)
            memberships[definition.id] = result.membership
            members[definition.id] = result.membership.member
            self.transitions.extend(result.transitions)

    def _holds(
        self,
        condition: Any,
        person_id: str,
        now: int,
        properties: dict[str, Any],
        members: dict[str, bool],
    ) -> bool:
        if isinstance(condition, EventCondition):
            return event_holds(condition, self._times(condition, person_id), now)
        if isinstance(condition, SequenceCondition):
            steps = [self._times(step, person_id) for step in condition.steps]
            return sequence_holds(condition, steps, now)
        if isinstance(condition, PersonCondition):
            return compare(
                condition.operator, properties.get(condition.key, MISSING), condition.value
            )
        if isinstance(condition, CohortCondition):
            return members.get(condition.cohort_id, False) == condition.member
        if isinstance(condition, NotCondition):
            return not self._holds(condition.condition, person_id, now, properties, members)
        if isinstance(condition, (AndCondition, OrCondition)):
            combine = all if isinstance(condition, AndCondition) else any
            return combine(
                self._holds(c, person_id, now, properties, members) for c in condition.conditions
            )
        raise TypeError(f"unknown condition {condition!r}")

    def _times(self, condition: Any, person_id: str) -> list[tuple[int, str]]:
        """(time, uuid) of every occurrence the condition reads, ascending; kept
        until the person's occurrences change (they only grow, or are replaced)."""
        occurrences = self._occurrences[person_id]
        cached = self._times_kept.get((person_id, condition.spec_key))
        if cached is not None and cached[0] is occurrences and cached[1] == len(occurrences):
            return cached[2]
        found = sorted(
            (at, uuid)
            for uuid, (at, name, event_properties) in occurrences.items()
            if name == condition.event and matches_filters(condition.where, event_properties)
        )
        self._times_kept[(person_id, condition.spec_key)] = (occurrences, len(occurrences), found)
        return found

    def _occurrence_moments(self, person_id: str, project_id: int) -> list[int]:
        """Every moment an occurrence of the person's can change a result, ascending;
        kept until the person's occurrences change."""
        occurrences = self._occurrences[person_id]
        cached = self._moments.get(person_id)
        if cached is not None and cached[0] is occurrences and cached[1] == len(occurrences):
            return cached[2]
        delays, periods = self._delays.get(project_id, []), self._periods.get(project_id, [])
        ordered = sorted(
            {m for at, _, _ in occurrences.values() for m in change_moments(at, delays, periods)}
        )
        self._moments[person_id] = (occurrences, len(occurrences), ordered)
        return ordered

    def _next_moment(self, person_id: str) -> int | None:
        """The earliest moment not yet evaluated at which the person's result could change."""
        project_id, _ = self._live[person_id]
        moments = self._occurrence_moments(person_id, project_id)
        after = bisect.bisect_right(moments, self._timers_through)
        candidates = moments[after : after + 1]
        for definition in self._cohorts.get(project_id, []):
            membership = self._memberships.get(person_id, {}).get(definition.id)
            if membership is None or not membership.member or membership.entered_at is None:
                continue
            candidates.append(membership.entered_at + definition.min_dwell_seconds)
            if definition.max_dwell_seconds is not None:
                candidates.append(membership.entered_at + definition.max_dwell_seconds)
        later = [c for c in candidates if c > self._timers_through]
        return min(later) if later else None

    def _leave_all(self, person_id: str, source: str) -> None:
        """The person is gone: every membership ends now, whatever the dwell rules."""
        if person_id not in self._live:
            return
        project_id, _ = self._live[person_id]
        memberships = self._memberships.get(person_id, {})
        everyone = [*self._cohorts.get(project_id, []), *self._manual.get(project_id, {}).values()]
        for definition in everyone:
            current = memberships.get(definition.id)
            if current is None or not current.member:
                continue
            memberships[definition.id] = Membership(False, None, current.entries, False, False)
            if current.announced:
                self.transitions.append(
                    transition(definition, person_id, LEFT, current.entries, self.clock, source)
                )


def delays_of(conditions: list[EventCondition]) -> list[int]:
    """How long after an occurrence a result reading it may change: windows and
    range ends."""
    delays: set[int] = set()
    for condition in conditions:
        for delay in (condition.window_seconds, *(condition.range_seconds or ())):
            if delay is not None:
                delays.add(delay)
    return sorted(delays)


def sequence_windows(definitions: list[CohortDefinition]) -> set[int]:
    """A sequence's result changes when a chain's last occurrence enters its window
    (its own time) and when it leaves (a window later)."""
    return {
        leaf.window_seconds
        for definition in definitions
        for leaf in leaf_conditions(definition.criteria)
        if isinstance(leaf, SequenceCondition)
    }


def sequence_holds(
    condition: SequenceCondition, steps: list[list[tuple[int, str]]], now: int
) -> bool:
    """Some chain of every occurrence, one per step, each strictly after the one
    before and within its gap, ends in (now - window, now]: tried exhaustively."""

    reachable: dict[tuple[int, int], set[int]] = {}

    def chain_from(step: int, after: int) -> set[int]:
        """Last-step times reachable from an occurrence of step - 1 at ``after``."""
        if (step, after) not in reachable:
            gap = condition.gaps[step - 1]
            nexts = {at for at, _ in steps[step] if after < at <= after + gap}
            if step < len(steps) - 1:
                nexts = {end for at in nexts for end in chain_from(step + 1, at)}
            reachable[(step, after)] = nexts
        return reachable[(step, after)]

    window = condition.window_seconds
    return any(now - window < end <= now for start, _ in steps[0] for end in chain_from(1, start))


def periods_of(conditions: list[EventCondition]) -> list[tuple[int, int]]:
    """(period, of_last) of the ``regularly`` conditions."""
    return sorted(
        {
            (c.period_seconds, c.of_last)
            for c in conditions
            if c.period_seconds is not None and c.of_last is not None
        }
    )


def change_moments(at: int, delays: list[int], periods: list[tuple[int, int]]) -> list[int]:
    """When an occurrence at ``at`` can change a result: its own time (it may be
    stamped ahead of the clock), each delay after it, and the moment its period
    leaves each ``of_last``."""
    return [
        at,
        *(at + delay for delay in delays),
        *(calendar.start_of(calendar.index_of(at, p) + of_last, p) for p, of_last in periods),
    ]


def event_holds(condition: EventCondition, times: list[tuple[int, str]], now: int) -> bool:
    """The condition over every occurrence, counted directly."""
    check = condition.check
    window = condition.window_seconds
    if check == "first_time" and window is not None:
        # every occurrence, inside any window or not: the first ever
        return bool(times) and now - window < times[0][0] <= now
    if check == "regularly":
        period, of_last = condition.period_seconds or 0, condition.of_last or 1
        current = calendar.index_of(now, period)
        active = {calendar.index_of(at, period) for at, _ in times if at <= now}
        return len({i for i in active if current - of_last < i}) >= (condition.value or 1)
    if check == "started_again" and window is not None:
        gap = condition.gap_seconds or 0
        return any(
            now - window < later[0] <= now and later[0] - earlier[0] >= gap
            for earlier, later in pairwise(times)
        )
    span = condition.range_seconds
    if span is not None:
        count = sum(1 for at, _ in times if now - span[0] < at <= now - span[1])
        if check == "stopped":
            return count > 0 and not any(now - span[1] < at <= now for at, _ in times)
    else:
        count = sum(1 for at, _ in times if window is None or now - window < at <= now)
    if check == "exists":
        return count > 0
    if check == "not_exists":
        return count == 0
    return compare(condition.operator or "gte", count, condition.value)
