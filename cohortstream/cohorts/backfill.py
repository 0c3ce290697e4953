"""Materializing a new cohort generation from history, silently.

A new or changed dynamic cohort starts with empty counters. Its backfill
replays the enriched events topic from its earliest retained offset and sends
each past occurrence that feeds the cohort to the person actor as a
``backfill`` command (counted, not evaluated); live events are counted as
they come too (the registry knows the cohort's specs from the start), and a
repeat of the same event counts once. When the replay has reached the end
offsets taken at its start, an ``activate`` command goes to every person
partition: behind all of that partition's backfilled occurrences, it makes
the generation live there and sets every person's membership without
emitting transitions (history is not news). From then on the cohort is
evaluated like any other.
"""

from __future__ import annotations

from typing import Any

from cohortstream.cohorts.definition import CohortDefinition
from cohortstream.cohorts.evaluate import matches_filters
from cohortstream.cohorts.registry import Matcher, counter_reads

Command = dict[str, Any]
SpecsByEvent = dict[str, list[tuple[str, Matcher]]]


def specs_of(definition: CohortDefinition) -> SpecsByEvent:
    """The counters a cohort reads, by event name."""
    by_event: SpecsByEvent = {}
    for key, matcher, _ in counter_reads(definition.criteria):
        specs = by_event.setdefault(matcher.event, [])
        if all(existing != key for existing, _ in specs):
            specs.append((key, matcher))
    return by_event


def backfill_commands(
    event: dict[str, Any],
    definition: CohortDefinition,
    generation: str,
    specs: SpecsByEvent,
    at: int,
) -> list[Command]:
    """The ``backfill`` command of one enriched event for ``definition`` (whose
    ``specs_of`` is ``specs``); ``at``: when the backfill started (seconds)."""
    if not event.get("person_id") or event.get("project_id") != definition.project_id:
        return []
    matched = [
        spec
        for spec, condition in specs.get(event["event"], ())
        if matches_filters(condition.where, event["properties"])
    ]
    if not matched:
        return []
    return [
        {
            "op": "backfill",
            "project_id": event["project_id"],
            "person_id": event["person_id"],
            "uuid": event["uuid"],
            "timestamp_us": event["timestamp_us"],
            "received_s": event["created_at_us"] // 1_000_000,
            "specs": matched,
            "cohort_id": definition.id,
            "generation": generation,
            "at": at,
        }
    ]


def activate_command(project_id: int, cohort_id: str, generation: str, at: int) -> Command:
    return {
        "op": "activate",
        "project_id": project_id,
        "cohort_id": cohort_id,
        "generation": generation,
        "at": at,
    }
