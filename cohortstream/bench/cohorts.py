"""The benchmark's 20 dynamic cohorts over the demo's events: counts, rolling
windows from minutes to days, absence, person properties and combinations, so
the pipeline's measured rate includes cohort evaluation."""

from __future__ import annotations

from typing import Any

WINDOWS = ["5m", "1h", "1d", "7d", "30d"]


def _event(event: str, **criteria: Any) -> dict[str, Any]:
    return {"type": "event", "event": event, **criteria}


def bench_cohorts(project_id: int) -> list[dict[str, Any]]:
    criteria: list[tuple[str, dict[str, Any]]] = []
    for window in WINDOWS:  # rolling counts, minutes to days
        criteria.append(
            (
                f"views-{window}",
                _event("$pageview", check="count", operator="gte", value=3, within=window),
            )
        )
        criteria.append((f"buyer-{window}", _event("purchase", check="exists", within=window)))
    criteria += [
        ("signed-up", _event("signed_up", check="exists")),
        ("two-purchases", _event("purchase", check="count", operator="gte", value=2)),
        (
            "big-purchase-7d",
            _event(
                "purchase",
                check="exists",
                within="7d",
                where=[{"key": "amount", "operator": "gt", "value": 100}],
            ),
        ),
        ("quiet-1h", _event("$pageview", check="not_exists", within="1h")),  # absence
        ("quiet-1d", _event("$pageview", check="not_exists", within="1d")),
        (
            "paying",
            {"type": "person", "key": "plan", "operator": "in", "value": ["starter", "pro"]},
        ),
        (
            "paying-quiet-1h",
            {
                "type": "and",
                "conditions": [
                    {"type": "person", "key": "plan", "operator": "in", "value": ["pro"]},
                    _event("$pageview", check="not_exists", within="1h"),
                ],
            },
        ),
        (
            "viewer-not-buyer-1d",
            {
                "type": "and",
                "conditions": [
                    _event("$pageview", check="exists", within="1d"),
                    {"type": "not", "condition": _event("purchase", check="exists")},
                ],
            },
        ),
        (
            "signup-or-buyer-5m",
            {
                "type": "or",
                "conditions": [
                    _event("signed_up", check="exists", within="5m"),
                    _event("purchase", check="exists", within="5m"),
                ],
            },
        ),
        (
            "heavy-viewer-30d",
            _event("$pageview", check="count", operator="gte", value=20, within="30d"),
        ),
    ]
    return [
        {"id": f"bench-{name}", "project_id": project_id, "name": name, "criteria": condition}
        for name, condition in criteria
    ]
