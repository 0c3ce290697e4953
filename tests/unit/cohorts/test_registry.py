"""The registry's view of one partition: which cohorts it evaluates, which are frozen."""

from __future__ import annotations

from cohortstream.cohorts.definition import generation_of, parse_definition
from cohortstream.cohorts.registry import CohortRegistry


def counted(cohort_id: str, event: str) -> dict:
    return {
        "id": cohort_id,
        "project_id": 1,
        "name": cohort_id,
        "criteria": {
            "type": "event",
            "event": event,
            "check": "count",
            "operator": "gte",
            "value": 1,
        },
    }


BUYERS = parse_definition(counted("buyers", "purchase"))
READERS = parse_definition(counted("readers", "$pageview"))


def test_a_partition_evaluates_only_the_generations_it_has_activated():
    project = CohortRegistry([BUYERS, READERS]).project(1)
    assert project is not None
    view = project.narrowed({"1:buyers": generation_of(BUYERS), "1:readers": "an older one"})
    assert [d.id for d in view.cohorts] == ["buyers"]
    assert [d.id for d in view.frozen] == ["readers"]


def test_a_partition_with_everything_active_sees_the_project_itself():
    project = CohortRegistry([BUYERS, READERS]).project(1)
    assert project is not None
    active = {"1:buyers": generation_of(BUYERS), "1:readers": generation_of(READERS)}
    assert project.narrowed(active) is project
    assert project.narrowed(None) is project


def test_a_view_is_built_once_per_set_of_frozen_cohorts():
    project = CohortRegistry([BUYERS, READERS]).project(1)
    assert project is not None
    nothing_active: dict[str, str] = {}
    first = project.narrowed(nothing_active)
    assert project.narrowed({"1:other": "x"}) is first  # the same cohorts frozen
    assert [d.id for d in first.frozen] == ["buyers", "readers"]
    silent = project.narrowed(None, silent=frozenset({"buyers"}))
    assert silent is not first and silent.silent == {"buyers"}
    assert [d.id for d in silent.cohorts] == ["buyers", "readers"]
