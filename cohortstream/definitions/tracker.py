"""Hourly de-duplication of definition writes.

A hot event must not write PostgreSQL on every occurrence: each definition
is written at most once per hour (per worker), carrying the volume counted
since its last write. State is passed in and handed back, so a failed write
leaves it untouched and the same volume is written next time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cohortstream.definitions.detect import event_name_is_tracked, properties_of
from cohortstream.streams.records import EnrichedEvent

HOUR_US = 3_600_000_000

DefinitionKey = tuple[int, str, str]  # (project_id, "event" | "property", name)


@dataclass
class PendingDefinition:
    """What a write of one definition carries."""

    project_id: int
    kind: str
    name: str
    property_type: str | None
    first_seen_us: int
    last_seen_us: int
    volume: int


@dataclass
class DefinitionsState:
    """Per definition: the hour bucket of its last write, and volume not yet written."""

    written_hour: dict[DefinitionKey, int] = field(default_factory=dict)
    unwritten: dict[DefinitionKey, PendingDefinition] = field(default_factory=dict)


def observe(state: DefinitionsState, events: list[EnrichedEvent]) -> DefinitionsState:
    """New state with these events counted (nothing is written here)."""
    # Aggregate the batch in plain lists first: one object per definition, not per event.
    batch: dict[DefinitionKey, list[Any]] = {}  # [type, first_seen, last_seen, volume]
    for event in events:
        seen = event["created_at_us"]
        project = event["project_id"]
        observed: list[tuple[str, str, str | None]] = []
        if event_name_is_tracked(event["event"]):
            observed.append(("event", event["event"], None))
        observed.extend(
            ("property", name, kind) for name, kind in properties_of(event["properties"]).items()
        )
        for kind, name, detected in observed:
            entry = batch.get((project, kind, name))
            if entry is None:
                batch[(project, kind, name)] = [detected, seen, seen, 1]
            else:
                entry[0] = entry[0] or detected
                entry[1] = min(entry[1], seen)
                entry[2] = max(entry[2], seen)
                entry[3] += 1
    unwritten = dict(state.unwritten)
    for (project, kind, name), (detected, first, last, volume) in batch.items():
        current = unwritten.get((project, kind, name))
        if current is not None:
            detected = current.property_type or detected
            first, last = min(first, current.first_seen_us), max(last, current.last_seen_us)
            volume += current.volume
        unwritten[(project, kind, name)] = PendingDefinition(
            project, kind, name, detected, first, last, volume
        )
    return DefinitionsState(state.written_hour, unwritten)


def due(state: DefinitionsState, now_us: int) -> list[PendingDefinition]:
    """Definitions never written this hour: new ones, and known ones once an hour."""
    hour = now_us // HOUR_US
    return [
        pending for key, pending in state.unwritten.items() if state.written_hour.get(key) != hour
    ]


def written(
    state: DefinitionsState, batch: list[PendingDefinition], now_us: int
) -> DefinitionsState:
    """New state after ``batch`` reached PostgreSQL."""
    hour = now_us // HOUR_US
    written_hour = dict(state.written_hour)
    unwritten = dict(state.unwritten)
    for pending in batch:
        key = (pending.project_id, pending.kind, pending.name)
        written_hour[key] = hour
        unwritten.pop(key, None)
    # Forget hours long gone, so the map grows with definitions, not with time.
    written_hour = {key: h for key, h in written_hour.items() if h >= hour - 1}
    return DefinitionsState(written_hour, unwritten)
