"""The cohort definitions a worker evaluates, per project, in dependency order.

Loaded from PostgreSQL and refreshed in the background; ingestion asks which
counters an event feeds, the person actor which cohorts to evaluate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cohortstream.cohorts.counters import Needs, needs_of, spec_key
from cohortstream.cohorts.definition import (
    CohortDefinition,
    EventCondition,
    SequenceCondition,
    SequenceStep,
    dependency_order,
    generation_of,
    leaves,
    referenced_cohorts,
)
from cohortstream.cohorts.evaluate import matches_filters

# What an event is matched against to feed a counter: an event name and filters.
Matcher = EventCondition | SequenceStep


def leaf_conditions(condition: Any) -> list[EventCondition | SequenceCondition]:
    """The conditions of a criteria tree that read counters."""
    return [c for c in leaves(condition) if isinstance(c, (EventCondition, SequenceCondition))]


def event_conditions(condition: Any) -> list[EventCondition]:
    return [c for c in leaf_conditions(condition) if isinstance(c, EventCondition)]


def counter_reads(condition: Any) -> list[tuple[str, Matcher, Needs]]:
    """(counter, what feeds it, what it must keep) for every counter a criteria tree reads."""
    reads: list[tuple[str, Matcher, Needs]] = []
    for leaf in leaf_conditions(condition):
        if isinstance(leaf, EventCondition):
            reads.append((spec_key(leaf), leaf, needs_of(leaf)))
            continue
        for step, step_list in zip(leaf.steps, leaf.step_lists, strict=True):
            reads.append((step.spec_key, step, Needs(sequences=(step_list,))))
    return reads


@dataclass
class ProjectCohorts:
    """One project's dynamic cohorts and the counters they read.

    A cohort is evaluated on a partition once that partition has activated its
    generation (after the backfill of its history): ``narrowed`` gives the view
    of one partition, where the others are ``frozen`` (memberships kept as they
    are, counters still recorded)."""

    cohorts: list[CohortDefinition] = field(default_factory=list)  # dependency order
    # Manual cohorts: members only through the API; dynamic ones may read them.
    manual: dict[str, CohortDefinition] = field(default_factory=dict)

    def kept_across_merges(self) -> dict[str, CohortDefinition]:
        """Cohorts whose membership is not re-derived: it follows the person on a merge."""
        return {
            **self.manual,
            **{d.id: d for d in [*self.cohorts, *self.frozen] if d.kind == "static"},
        }

    needs: dict[str, Needs] = field(default_factory=dict)  # spec -> what it keeps
    # event name -> [(spec, matcher)] for matching an event to its specs
    by_event: dict[str, list[tuple[str, Matcher]]] = field(default_factory=dict)
    generation: dict[str, str] = field(default_factory=dict)  # cohort id -> generation
    frozen: list[CohortDefinition] = field(default_factory=list)  # not active on this partition
    # cohort id -> the counters (specs) and the cohorts its criteria read
    reads_specs: dict[str, frozenset[str]] = field(default_factory=dict)
    reads_cohorts: dict[str, frozenset[str]] = field(default_factory=dict)
    silent: frozenset[str] = frozenset()  # evaluated without emitting transitions
    # Views and keys are derived once the registry has built this project.
    _views: dict[tuple[frozenset[str], frozenset[str]], ProjectCohorts] = field(
        default_factory=dict, repr=False, compare=False
    )
    _keys: list[tuple[str, str, str]] | None = field(default=None, repr=False, compare=False)

    def narrowed(
        self, active: Mapping[str, str] | None, silent: frozenset[str] = frozenset()
    ) -> ProjectCohorts:
        """The view of a partition whose activated generations are ``active``
        (``project:cohort`` -> generation); None: everything is active.

        Called for every person command, so it compares ids, not definitions
        (pydantic's ``__eq__`` here was a third of a worker's CPU while cohorts
        backfilled), and a partition's view is built once per set of frozen
        cohorts."""
        frozen_ids = frozenset(
            cohort_id
            for cohort_id, key, generation in self._activation_keys()
            if active is not None and active.get(key) != generation
        )
        if not frozen_ids and not silent:
            return self
        view = self._views.get((frozen_ids, silent))
        if view is None:
            view = replace(
                self,
                cohorts=[d for d in self.cohorts if d.id not in frozen_ids],
                frozen=[*self.frozen, *(d for d in self.cohorts if d.id in frozen_ids)],
                silent=silent,
                _views={},
                _keys=None,
            )
            self._views[(frozen_ids, silent)] = view
        return view

    def _activation_keys(self) -> list[tuple[str, str, str]]:
        """(cohort id, ``project:cohort``, generation) of each evaluated cohort."""
        if self._keys is None:
            self._keys = [
                (d.id, f"{d.project_id}:{d.id}", self.generation[d.id]) for d in self.cohorts
            ]
        return self._keys


class CohortRegistry:
    def __init__(self, definitions: Iterable[CohortDefinition] = ()) -> None:
        self._projects: dict[int, ProjectCohorts] = {}
        self._definitions: list[CohortDefinition] = []
        # Person key -> the generations its partition has activated; None: all active.
        self.activation: Callable[[str], Mapping[str, str]] | None = None
        self.replace(list(definitions))

    def definitions(self) -> list[CohortDefinition]:
        return list(self._definitions)

    def replace(self, definitions: list[CohortDefinition]) -> None:
        self._definitions = list(definitions)
        projects: dict[int, ProjectCohorts] = {}
        by_project: dict[int, list[CohortDefinition]] = {}
        for definition in definitions:
            by_project.setdefault(definition.project_id, []).append(definition)
        for project_id, project_definitions in by_project.items():
            project = ProjectCohorts()
            for definition in dependency_order(project_definitions):
                if definition.kind == "manual":
                    project.manual[definition.id] = definition
                if definition.kind == "manual":
                    continue
                # Static cohorts are kept like dynamic ones (counters, backfill,
                # activation) but their membership is frozen once materialized.
                project.cohorts.append(definition)
                project.generation[definition.id] = generation_of(definition)
                read = counter_reads(definition.criteria)
                project.reads_specs[definition.id] = frozenset(spec for spec, _, _ in read)
                project.reads_cohorts[definition.id] = frozenset(
                    referenced_cohorts(definition.criteria)
                )
                for spec, matcher, needs in read:
                    project.needs[spec] = project.needs.get(spec, Needs()).merge(needs)
                    specs = project.by_event.setdefault(matcher.event, [])
                    if all(existing != spec for existing, _ in specs):
                        specs.append((spec, matcher))
            projects[project_id] = project
        self._projects = projects

    def project(self, project_id: int) -> ProjectCohorts | None:
        return self._projects.get(project_id)

    def for_person(self, project_id: int, key: str) -> ProjectCohorts | None:
        """The project's cohorts as the partition of person ``key`` evaluates them."""
        project = self._projects.get(project_id)
        if project is None or self.activation is None:
            return project
        return project.narrowed(self.activation(key))

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
