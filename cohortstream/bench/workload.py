"""Seeded benchmark traffic: the demo's users, as single events or SDK batches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from cohortstream.demo.generator import DemoConfig, generate_payloads
from cohortstream.ingestion.keys import partition_key

FIXED_NOW = datetime(2026, 3, 1, tzinfo=UTC)  # same bytes every run


def workload(
    users: int, seed: int, batched: bool, project_id: int, later_by: timedelta = timedelta(0)
) -> list[tuple[bytes, bytes | None]]:
    """(value, key) messages; batched keeps SDK envelopes, otherwise one event per message.

    ``later_by``: the same users doing the same things that much later, so the same
    persons with new events (event uuids derive from their times)."""
    config = DemoConfig(users=users, seed=seed, malformed_share=0.0, project_id=project_id)
    messages: list[tuple[bytes, bytes | None]] = []
    for payload in generate_payloads(config, now=FIXED_NOW + later_by):
        if batched:
            messages.append((orjson.dumps(payload), partition_key(payload)))
            continue
        for event in payload["batch"]:
            single = {**event, "project_id": payload["project_id"]}
            messages.append((orjson.dumps(single), partition_key(single)))
    return messages


def event_count(messages: list[tuple[bytes, bytes | None]]) -> int:
    total = 0
    for value, _ in messages:
        payload = orjson.loads(value)
        total += len(payload["batch"]) if isinstance(payload, dict) and "batch" in payload else 1
    return total
