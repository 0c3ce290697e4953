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

from cohortstream.cohorts.registry import CohortRegistry

Command = dict[str, Any]


def backfill_commands(
    event: dict[str, Any], only: CohortRegistry, cohort_id: str, at: int
) -> list[Command]:
    """The ``backfill`` command of one enriched event for the cohort that ``only``
    holds; ``at``: when the backfill started (seconds)."""
    if not event.get("person_id"):
        return []
    specs = only.specs_matched(event["project_id"], event["event"], event["properties"])
    if not specs:
        return []
    return [
        {
            "op": "backfill",
            "project_id": event["project_id"],
            "person_id": event["person_id"],
            "uuid": event["uuid"],
            "timestamp_us": event["timestamp_us"],
            "received_s": event["created_at_us"] // 1_000_000,
            "specs": specs,
            "cohort_id": cohort_id,
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
