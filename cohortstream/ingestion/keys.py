"""The partition key producers should use, read off a payload before validation."""

from __future__ import annotations

from typing import Any


def partition_key(payload: Any) -> bytes | None:
    """``project_id:distinct_id`` of a payload's first event; None when it has none."""
    if isinstance(payload, dict) and isinstance(payload.get("batch"), list):
        envelope_project = payload.get("project_id")
        first = payload["batch"][0] if payload["batch"] else None
        if isinstance(first, dict):
            payload = {"project_id": envelope_project, **first}
    elif isinstance(payload, list) and payload:
        payload = payload[0]
    if isinstance(payload, dict):
        project_id, distinct_id = payload.get("project_id"), payload.get("distinct_id")
        if project_id is not None and distinct_id is not None:
            return f"{project_id}:{distinct_id}".encode()
    return None
