"""The cohort definitions a worker evaluates, per project, in dependency order.

Loaded from PostgreSQL and refreshed in the background; ingestion asks which
counters an event feeds, the person actor which cohorts to evaluate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cohortstream.cohorts.counters import Needs, needs_of, spec_key
from cohortstream.cohorts.definition import (
    AndCondition,
    CohortDefinition,
    EventCondition,
    NotCondition,
    OrCondition,
    dependency_order,
)
from cohortstream.cohorts.evaluate import matches_filters


def event_conditions(condition: Any) -> list[EventCondition]:
    if isinstance(condition, EventCondition):
        return [condition]
    if isinstance(condition, (AndCondition, OrCondition)):
        return [e for c in condition.conditions for e in event_conditions(c)]
    if isinstance(condition, NotCondition):
        return event_conditions(condition.condition)
    return []


@dataclass
class ProjectCohorts:
    """One project's dynamic cohorts and the counters they read."""

    cohorts: list[CohortDefinition] = field(default_factory=list)  # dependency order
    # Manual cohorts: members only through the API; dynamic ones may read them.
    manual: dict[str, CohortDefinition] = field(default_factory=dict)
    needs: dict[str, Needs] = field(default_factory=dict)  # spec -> what it keeps
    # event name -> [(spec, condition)] for matching an event to its specs
    by_event: dict[str, list[tuple[str, EventCondition]]] = field(default_factory=dict)


class CohortRegistry:
    def __init__(self, definitions: Iterable[CohortDefinition] = ()) -> None:
        self._projects: dict[int, ProjectCohorts] = {}
        self.replace(list(definitions))

    def replace(self, definitions: list[CohortDefinition]) -> None:
        projects: dict[int, ProjectCohorts] = {}
        by_project: dict[int, list[CohortDefinition]] = {}
        for definition in definitions:
            by_project.setdefault(definition.project_id, []).append(definition)
        for project_id, project_definitions in by_project.items():
            project = ProjectCohorts()
            for definition in dependency_order(project_definitions):
                if definition.kind == "manual":
                    project.manual[definition.id] = definition
                if definition.kind != "dynamic":
                    continue
                project.cohorts.append(definition)
                for condition in event_conditions(definition.criteria):
                    spec = spec_key(condition)
                    project.needs[spec] = project.needs.get(spec, Needs()).merge(
                        needs_of(condition)
                    )
                    specs = project.by_event.setdefault(condition.event, [])
                    if all(existing != spec for existing, _ in specs):
                        specs.append((spec, condition))
            projects[project_id] = project
        self._projects = projects

    def project(self, project_id: int) -> ProjectCohorts | None:
        return self._projects.get(project_id)

    def specs_matched(self, project_id: int, event: str, properties: dict[str, Any]) -> list[str]:
        """The counters an event feeds: its name, and its properties pass the filters."""
        project = self._projects.get(project_id)
        if project is None:
            return []
        return [
            spec
            for spec, condition in project.by_event.get(event, ())
            if matches_filters(condition.where, properties)
        ]
