"""A person's membership of one cohort: entering, leaving, dwell rules, entry limits.

``step`` takes the criteria's result at a moment and returns the new
membership, the transitions it causes, and when it must be looked at again
(a deferred leave, a maximum dwell). Transitions carry an idempotency key
built from the entry count, so a repeated step can be recognised downstream.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from cohortstream.cohorts.definition import CohortDefinition

ENTERED = "entered"
LEFT = "left"


@dataclass(frozen=True)
class Membership:
    member: bool = False
    entered_at: int | None = None
    entries: int = 0  # times entered, emitted or not
    announced: bool = False  # whether the current entry's `entered` was emitted
    # After a max_dwell expiry: stays out until the criteria stop matching once.
    blocked: bool = False

    def to_json(self) -> list[Any]:
        return [self.member, self.entered_at, self.entries, self.announced, self.blocked]

    @classmethod
    def from_json(cls, raw: list[Any] | None) -> Membership:
        return cls() if raw is None else cls(*raw)

    @staticmethod
    def is_member(raw: list[Any] | None) -> bool:
        """``from_json(raw).member``, without building the membership."""
        return raw is not None and bool(raw[0])


@dataclass
class Step:
    membership: Membership
    transitions: list[dict[str, Any]] = field(default_factory=list)
    next_check: int | None = None


def transition(
    definition: CohortDefinition,
    person_id: str,
    kind: str,
    entry_count: int,
    at: int,
    source: str,
) -> dict[str, Any]:
    return {
        "idempotency_key": f"cohort:{definition.id}:{person_id}:{kind}:{entry_count}",
        "cohort_id": definition.id,
        "project_id": definition.project_id,
        "person_id": person_id,
        "kind": kind,
        "entry_count": entry_count,
        "at": at,
        "source": source,
    }


def step(
    definition: CohortDefinition,
    person_id: str,
    current: Membership,
    matches: bool,
    now: int,
    source: str,
) -> Step:
    if not current.member:
        if not matches:
            return Step(replace(current, blocked=False) if current.blocked else current)
        if current.blocked:
            return Step(current)
        entries = current.entries + 1
        limit = definition.max_entries
        announced = limit is None or entries <= limit
        entered = Membership(True, now, entries, announced, False)
        result = Step(entered, next_check=_max_dwell_end(definition, entered))
        if announced:
            result.transitions.append(
                transition(definition, person_id, ENTERED, entries, now, source)
            )
        return result

    assert current.entered_at is not None
    expiry = _max_dwell_end(definition, current)
    if expiry is not None and now >= expiry:
        return _leave(definition, person_id, current, expiry, "timer", blocked=matches)
    if matches:
        return Step(current, next_check=expiry)
    dwell_end = current.entered_at + definition.min_dwell_seconds
    if now < dwell_end:
        return Step(current, next_check=min(dwell_end, expiry or dwell_end))
    return _leave(definition, person_id, current, now, source, blocked=False)


def _leave(
    definition: CohortDefinition,
    person_id: str,
    current: Membership,
    at: int,
    source: str,
    *,
    blocked: bool,
) -> Step:
    left = Membership(False, None, current.entries, False, blocked)
    result = Step(left)
    if current.announced:
        result.transitions.append(
            transition(definition, person_id, LEFT, current.entries, at, source)
        )
    return result


def _max_dwell_end(definition: CohortDefinition, membership: Membership) -> int | None:
    limit = definition.max_dwell_seconds
    if limit is None or membership.entered_at is None:
        return None
    return membership.entered_at + limit
