"""A person's standing in one cohort, explained: stored membership, and the criteria
evaluated now with what each condition read (``cohorts.explain``)."""

from __future__ import annotations

from typing import Any

from cohortstream.cohorts.explain import explain
from cohortstream.cohorts.membership import Membership
from cohortstream.cohorts.registry import ProjectCohorts
from cohortstream.tables.person_state import PersonState

_KIND_NOTES = {
    "manual": "members are added and removed through the API ($cohort_member)",
    "static": "membership was fixed when the cohort was materialized; criteria show today",
}


def why_answer(
    person: PersonState, project: ProjectCohorts | None, cohort_id: str, now: int
) -> tuple[dict[str, Any], int]:
    """The body and status of ``.../cohorts/{cohort_id}/why`` for a live person."""
    definitions = (
        {}
        if project is None
        else {d.id: d for d in [*project.cohorts, *project.frozen, *project.manual.values()]}
    )
    definition = definitions.get(cohort_id)
    if definition is None:
        return {"error": f"no cohort {cohort_id!r} in project {person['project_id']}"}, 404
    now = max(now, person.get("evaluated_at", 0))  # the person's clock never runs back
    stored = person.get("cohorts", {})
    membership = Membership.from_json(stored.get(cohort_id))
    body: dict[str, Any] = {
        "person_id": person["id"],
        "cohort_id": cohort_id,
        "kind": definition.kind,
        "member": membership.member,
        "entered_at": membership.entered_at,
        "entries": membership.entries,
        "min_dwell": definition.min_dwell,
        "max_dwell": definition.max_dwell,
        "evaluated_at": now,
        # The person's next timer: the earliest moment any of its cohorts can move.
        "next_check": person.get("next_check"),
        "criteria": None,
    }
    if definition.kind in _KIND_NOTES:
        body["note"] = _KIND_NOTES[definition.kind]
    if definition.criteria is not None:
        body["criteria"] = explain(
            definition.criteria,
            now=now,
            properties=person["properties"],
            counters=person.get("counters", {}),
            memberships={c: Membership.is_member(m) for c, m in stored.items()},
        )
    return body, 200
