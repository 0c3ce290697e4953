"""A person's cohort state inside the person actor: counters, memberships, next check.

Kept in the person's table value (``counters``, ``cohorts``, ``next_check``),
so merges, deletes and changelog recovery carry it like every other field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cohortstream.cohorts import late
from cohortstream.cohorts.counters import Counter, merge_counters, record
from cohortstream.cohorts.definition import CohortDefinition
from cohortstream.cohorts.evaluate import Outcome, evaluate
from cohortstream.cohorts.membership import ENTERED, LEFT, Membership, step, transition
from cohortstream.cohorts.registry import ProjectCohorts
from cohortstream.tables.commands import Outbox
from cohortstream.tables.person_state import PersonState

# The lateness bound of corrective transitions in seconds (setting
# LATE_CORRECTIONS_WITHIN_S; set by the app); 0: none. Counters keep what
# answering from that long ago on needs.
late_corrections_within_s = 0


def record_occurrences(
    person: PersonState,
    project: ProjectCohorts,
    specs: list[str],
    at: int,
    event_uuid: str,
    now: int,
) -> set[str]:
    """Count one event (time ``at``, arriving at ``now``) in the counters it feeds;
    the counters that changed."""
    counters = dict(person.get("counters", {}))
    changed = set()
    for spec in specs:
        needs = project.needs.get(spec)
        if needs is None:
            continue  # a definition changed since ingestion matched it
        before = counters.get(spec)
        after = record(before, at, event_uuid, needs, now - late_corrections_within_s)
        if after != before:
            counters[spec] = after
            changed.add(spec)
    if changed:
        person["counters"] = counters
    return changed


def merge_cohort_state(
    target: PersonState, incoming: PersonState, project: ProjectCohorts | None, now: int
) -> None:
    """A merged-away person's counters join the survivor's (memberships are re-derived)."""
    if project is None or not incoming.get("counters"):
        return
    counters = dict(target.get("counters", {}))
    for spec, counter in incoming["counters"].items():
        needs = project.needs.get(spec)
        if needs is not None:
            counters[spec] = merge_counters(
                counters.get(spec), counter, needs, now - late_corrections_within_s
            )
    target["counters"] = counters


def evaluate_cohorts(
    person: PersonState,
    project: ProjectCohorts | None,
    now: int,
    source: str,
    outbox: Outbox,
    moved_counters: set[str] | None = None,
    cause: str = "",
) -> bool:
    """Re-evaluate the dynamic cohorts of the person's project at ``now``; emits
    transitions and member rows; sets ``next_check``. Returns whether state changed.

    A person's time never runs backwards: a redelivered tick, or an event that
    arrived earlier but reached the person later than something newer, is
    evaluated at the latest moment the person was evaluated at.

    ``moved_counters``: only those counters changed since the last evaluation
    and the person is not due (see ``is_due``), so only the cohorts reading
    them, or reading a cohort whose membership moves now, can change; the
    others keep what they have. Their own next moments are not recomputed:
    the earlier ``next_check`` stays as a bound, so at worst a timer fires
    early and finds nothing to do. None: every cohort."""
    if project is None:
        return False
    now = max(now, person.get("evaluated_at", 0))
    partial = moved_counters is not None
    moved = moved_counters or set()
    flipped: set[str] = set()
    # Kept in memory with every evaluation, persisted with the next real change.
    person["evaluated_at"] = now
    stored = dict(person.get("cohorts", {}))
    # Manual and frozen (not yet active here) cohorts are read as they stand.
    members = {
        c: Membership.is_member(stored.get(c))
        for c in [*project.manual, *(d.id for d in project.frozen)]
    }
    next_check: int | None = None
    if partial and person.get("next_check") is not None:
        next_check = person["next_check"]
    changed = False
    for definition in project.cohorts:  # dependency order: cohort conditions read earlier ones
        if (definition.kind == "static" and definition.id not in project.silent) or (
            partial
            and moved.isdisjoint(project.reads_specs.get(definition.id, ()))
            and flipped.isdisjoint(project.reads_cohorts.get(definition.id, ()))
        ):
            # Frozen since its materialization, or none of its inputs moved:
            # read as it stands.
            members[definition.id] = Membership.is_member(stored.get(definition.id))
            continue
        outcome = _evaluate(definition, person, members, now)
        raw = stored.get(definition.id)
        if not outcome.matches and (raw is None or not (raw[0] or raw[4])):
            # Out, not blocked, and not matching: ``step`` would keep it as it is.
            # Most persons are out of most cohorts, so this is the common case.
            members[definition.id] = False
            next_check = _sooner(next_check, outcome.next_change, now)
            continue
        current = Membership.from_json(raw)
        result = step(definition, person["id"], current, outcome.matches, now, source)
        members[definition.id] = result.membership.member
        if result.membership != current:
            stored[definition.id] = result.membership.to_json()
            changed = True
            if result.membership.member != current.member:
                flipped.add(definition.id)
                outbox.rows.append(member_row(person, definition.id, result.membership))
        if definition.id not in project.silent:
            for change in result.transitions:
                _emit(outbox, change, cause)
        next_check = _sooner(next_check, outcome.next_change, now)
        next_check = _sooner(next_check, result.next_check, now)
    if changed:
        person["cohorts"] = stored
    if person.get("next_check") != next_check:
        person["next_check"] = next_check
        changed = True
    return changed


def _sooner(bound: int | None, moment: int | None, now: int) -> int | None:
    """The earlier of ``bound`` and ``moment``, counting ``moment`` only if it is
    still ahead of ``now``."""
    if moment is None or moment <= now:
        return bound
    return moment if bound is None else min(bound, moment)


def correct_late(
    person: PersonState,
    project: ProjectCohorts,
    before: dict[str, Counter],
    moved: set[str],
    at: int,
    now: int,
    event_uuid: str,
    outbox: Outbox,
) -> None:
    """The corrective transitions of an occurrence at ``at`` that arrived at ``now``
    and changed the counters ``moved`` (``before``: as they were); see ``cohorts.late``."""
    now = max(now, person.get("evaluated_at", 0))
    if not moved or not at < now <= at + late_corrections_within_s:
        return
    after = person.get("counters", {})
    for definition in project.cohorts:
        if (
            definition.id in project.silent
            or moved.isdisjoint(project.reads_specs.get(definition.id, ()))
            or not late.correctable(definition)
        ):
            continue
        before_history = _criteria_history(definition.criteria, before, at, now)
        after_history = _criteria_history(definition.criteria, after, at, now)
        for kind, moment in late.differences(before_history, after_history, now):
            change = late.late_transition(definition, person["id"], kind, moment, event_uuid)
            _emit(outbox, change, event_uuid)


def _criteria_history(
    criteria: Any, counters: dict[str, Counter], start: int, end: int
) -> late.History:
    return late.history(lambda when: evaluate(criteria, when, {}, counters, {}), start, end)


def is_due(person: PersonState, now: int) -> bool:
    """Whether the person's memberships may have moved with time alone by ``now``.

    ``next_check`` is the earliest moment any of its conditions or dwells can
    change on its own; before it, an event that fed no counter and changed no
    property re-evaluates to what the person already has (that is the same
    promise the deadline timers rely on), so the evaluation is skipped: most
    events of a session are of that kind, and evaluating every cohort of the
    project was the larger part of the person actor's time."""
    next_check = person.get("next_check")
    return next_check is not None and now >= next_check


def note_unchanged(person: PersonState, now: int) -> None:
    """An evaluation skipped at ``now`` still moves the person's clock."""
    person["evaluated_at"] = max(now, person.get("evaluated_at", 0))


def leave_all(
    person: PersonState,
    project: ProjectCohorts | None,
    now: int,
    source: str,
    outbox: Outbox,
    cause: str = "",
) -> None:
    """The person stops existing (merged away, deleted): it leaves every cohort."""
    if project is None:
        return
    stored = dict(person.get("cohorts", {}))
    for definition in [*project.cohorts, *project.frozen, *project.manual.values()]:
        current = Membership.from_json(stored.get(definition.id))
        if not current.member:
            continue
        # A leave that ignores min_dwell: the person is gone. The entry count stays,
        # so a person revived under the same id goes on counting (keys stay unique).
        left = Membership(False, None, current.entries, False, False)
        stored[definition.id] = left.to_json()
        outbox.rows.append(member_row(person, definition.id, left))
        if current.announced:
            left_now = transition(definition, person["id"], LEFT, current.entries, now, source)
            _emit(outbox, left_now, cause)
    person["cohorts"] = stored
    person["next_check"] = None


def manual_memberships(person: PersonState, project: ProjectCohorts | None) -> list[str]:
    """The manual and static cohorts the person is in (a merged-away person hands
    them over: they are not re-derived from criteria)."""
    if project is None:
        return []
    stored = person.get("cohorts", {})
    return [c for c in project.kept_across_merges() if Membership.is_member(stored.get(c))]


def set_manual_membership(
    person: PersonState,
    definition: CohortDefinition,
    member: bool,
    now: int,
    source: str,
    outbox: Outbox,
    cause: str = "",
) -> bool:
    """Add the person to a manual cohort or take it out; whether anything changed."""
    stored = dict(person.get("cohorts", {}))
    current = Membership.from_json(stored.get(definition.id))
    if current.member == member:
        return False
    if member:
        entries = current.entries + 1
        limit = definition.max_entries
        updated = Membership(True, now, entries, limit is None or entries <= limit, False)
        announce, kind = updated.announced, ENTERED
    else:
        updated = Membership(False, None, current.entries, False, False)
        announce, kind = current.announced, LEFT
    stored[definition.id] = updated.to_json()
    person["cohorts"] = stored
    outbox.rows.append(member_row(person, definition.id, updated))
    if announce:
        change = transition(definition, person["id"], kind, updated.entries, now, source)
        _emit(outbox, change, cause)
    return True


def _emit(outbox: Outbox, change: dict[str, Any], cause: str) -> None:
    """A transition goes to the topic and to the transitions table. ``cause``: the uuid
    of the event that made it ("" for a timer: ``at`` is its deadline; or a merge)."""
    change["event_uuid"] = cause
    outbox.transitions.append(change)
    outbox.rows.append({"table": "transitions", **change})


def member_row(person: PersonState, cohort_id: str, membership: Membership) -> dict[str, Any]:
    return {
        "table": "members",
        "project_id": person["project_id"],
        "cohort_id": cohort_id,
        "person_id": person["id"],
        "is_member": membership.member,
        # Each entry and leave moves it forward: enter 2n-1, leave 2n.
        "version": membership.entries * 2 - (1 if membership.member else 0),
    }


def static_progress(
    persons: Iterable[PersonState], definition: CohortDefinition, now: int
) -> tuple[int, int]:
    """(members, members whose criteria still hold at ``now``) of a static cohort
    among ``persons``: how far reality has moved since it was frozen."""
    total = matching = 0
    for person in persons:
        if person.get("project_id") != definition.project_id or "properties" not in person:
            continue  # another project's, a tombstone
        stored = person.get("cohorts", {})
        if not Membership.is_member(stored.get(definition.id)):
            continue
        total += 1
        memberships = {c: Membership.is_member(raw) for c, raw in stored.items()}
        outcome = evaluate(
            definition.criteria,
            now=max(now, person.get("evaluated_at", 0)),
            properties=person["properties"],
            counters=person.get("counters", {}),
            memberships=memberships,
        )
        matching += outcome.matches
    return total, matching


def next_change_of(person: PersonState, definition: CohortDefinition, now: int) -> int | None:
    """When the cohort's criteria may next flip for the person with no new event
    (a window edge, an absence coming due); None when only an event can flip them.
    Dwell limits are not included: they show in the person's ``next_check``."""
    memberships = {
        cohort: Membership.is_member(stored) for cohort, stored in person.get("cohorts", {}).items()
    }
    outcome = _evaluate(definition, person, memberships, now)
    return outcome.next_change if outcome.next_change and outcome.next_change > now else None


def _evaluate(
    definition: CohortDefinition, person: PersonState, memberships: dict[str, bool], now: int
) -> Outcome:
    return evaluate(
        definition.criteria,
        now=now,
        properties=person["properties"],
        counters=person.get("counters", {}),
        memberships=memberships,
    )
