"""Corrective transitions for late events.

An event that arrives after its time can change what a cohort's criteria were
in the past: a purchase stamped 40 minutes ago meant "purchased within 30
minutes" held for 30 minutes, all of it before the event arrived, and nothing
was said. Within the lateness bound (setting ``LATE_CORRECTIONS_WITHIN_S``) the
criteria's history from the event's time to its arrival is computed twice,
without and with it, and every stretch where the two differ and which closed
before the arrival becomes a pair of transitions marked ``source: late`` (an
``entered`` and a ``left``, or a ``left`` and an ``entered``). A difference
still open at the arrival is the ordinary transition at the arrival; one
that closes exactly then is corrected, as nothing else says it.

Only criteria made of event conditions (with and, or, not) are corrected: a
person's past property values and past memberships of other cohorts are not
kept, and dwell rules and entry limits count entries that went out, which a
correction does not renumber. Corrections carry their own idempotency keys
(the late event's uuid, the kind and the moment), so a redelivered event,
which changes no counter, corrects nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cohortstream.cohorts.definition import (
    CohortDefinition,
    EventCondition,
    SequenceCondition,
    leaves,
)
from cohortstream.cohorts.membership import ENTERED, LEFT, transition

# (moment, whether the criteria hold from it on), ascending, the first at the start.
History = list[tuple[int, bool]]


def correctable(definition: CohortDefinition) -> bool:
    return (
        definition.kind == "dynamic"
        and definition.min_dwell_seconds == 0
        and definition.max_dwell_seconds is None
        and definition.max_entries is None
        and _events_only(definition.criteria)
    )


def _events_only(criteria: Any) -> bool:
    return all(isinstance(c, (EventCondition, SequenceCondition)) for c in leaves(criteria))


def history(evaluate_at: Callable[[int], tuple[bool, int | None]], start: int, end: int) -> History:
    """The criteria over [start, end], from an evaluation that also says when its
    result can next change (``evaluate.Outcome``)."""
    found: History = []
    moment: int | None = start
    while moment is not None and moment <= end:
        matches, change = evaluate_at(moment)
        if not found or found[-1][1] != matches:
            found.append((moment, matches))
        moment = change if change is not None and change > moment else None
    return found


def differences(before: History, after: History, end: int) -> list[tuple[str, int]]:
    """(kind, moment) of the transitions ``after`` makes over each stretch where it
    differs from ``before`` and which closes before ``end``, with the transition
    into and out of the stretch."""
    moments = sorted({m for m, _ in before} | {m for m, _ in after} | {end})
    found: list[tuple[str, int]] = []
    opened: tuple[int, bool] | None = None  # (start, what ``after`` says there)
    b_index = a_index = 0
    b_value = a_value = False
    for moment in moments:
        while b_index < len(before) and before[b_index][0] <= moment:
            b_value = before[b_index][1]
            b_index += 1
        while a_index < len(after) and after[a_index][0] <= moment:
            a_value = after[a_index][1]
            a_index += 1
        differs = None if a_value == b_value else a_value
        if opened is not None and differs != opened[1]:
            start, member = opened
            opening, closing = (
                (ENTERED if member else LEFT, start),
                (LEFT if member else ENTERED, moment),
            )
            # Where one stretch turns straight into the opposite one, the closing
            # transition of the first is the opening one of the second: said once.
            found += [closing] if found and found[-1] == opening else [opening, closing]
            opened = None
        if opened is None and differs is not None:
            opened = (moment, differs)
    return found  # a stretch still open at ``end`` is the ordinary transition's there


def late_transition(
    definition: CohortDefinition, person_id: str, kind: str, at: int, event_uuid: str
) -> dict[str, Any]:
    # entry_count 0: not an entry of the count dwell and entry rules keep.
    return {
        **transition(definition, person_id, kind, 0, at, "late"),
        "idempotency_key": f"cohort:{definition.id}:{person_id}:late:{event_uuid}:{kind}:{at}",
    }
