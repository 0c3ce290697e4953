"""Seeded workloads and definitions for the cohort equivalence test.

Users browse, click, buy, log in and change their person properties over a
couple of days of arrival time, with quiet stretches long enough for absence
windows to complete and dwell limits to expire. Some events arrive late, a
few are stamped ahead of their arrival, anonymous ids are identified and
aliased, a few users are merged or deleted. One person's events never share
an arrival second (the stream gives no order within one person's second).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

PROJECT = 1


def _cohort(cohort_id: str, criteria: dict[str, Any], **rules: Any) -> dict[str, Any]:
    return {
        "id": cohort_id,
        "project_id": PROJECT,
        "name": cohort_id,
        "criteria": criteria,
        **rules,
    }


def _event(name: str, check: str = "exists", **more: Any) -> dict[str, Any]:
    return {"type": "event", "event": name, "check": check, **more}


def _person(key: str, operator: str, value: Any = None) -> dict[str, Any]:
    condition = {"type": "person", "key": key, "operator": operator}
    return condition if value is None else {**condition, "value": value}


# Every condition type, operator family, dwell rule and entry limit.
COHORTS: list[dict[str, Any]] = [
    {"id": "vip", "project_id": PROJECT, "name": "VIP", "kind": "manual", "entry_limit": 3},
    _cohort(
        "active-vip",
        {
            "type": "and",
            "conditions": [
                {"type": "cohort", "cohort_id": "vip"},
                _event("$pageview", within="1h"),
            ],
        },
    ),
    _cohort(
        "buyers",
        _event(
            "click",
            "count",
            operator="gte",
            value=3,
            within="1h",
            where=[{"key": "button", "operator": "eq", "value": "buy"}],
        ),
        min_dwell="10m",
    ),
    _cohort(
        "dormant",
        {
            "type": "and",
            "conditions": [_event("login"), _event("login", "not_exists", within="6h")],
        },
        max_dwell="1d",
    ),
    _cohort(
        "doc-readers",
        {
            "type": "and",
            "conditions": [
                _person("plan", "in", ["pro", "enterprise"]),
                _event(
                    "$pageview",
                    within="2h",
                    where=[{"key": "path", "operator": "regex", "value": "^/docs"}],
                ),
            ],
        },
    ),
    _cohort(
        "big-spenders",
        {
            "type": "or",
            "conditions": [
                _event(
                    "purchase",
                    within="30m",
                    where=[{"key": "amount", "operator": "gte", "value": 50}],
                ),
                {
                    "type": "and",
                    "conditions": [_person("age", "gt", 40), _person("email", "contains", "@")],
                },
            ],
        },
        entry_limit="once",
    ),
    _cohort(
        "browsing-not-buying",
        {
            "type": "and",
            "conditions": [
                {"type": "cohort", "cohort_id": "buyers", "member": False},
                {"type": "cohort", "cohort_id": "doc-readers"},
                _event("$pageview", "count", operator="gt", value=1, within="15m"),
            ],
        },
        entry_limit=2,
    ),
    _cohort(
        "quiet-known",
        {
            "type": "and",
            "conditions": [
                {
                    "type": "not",
                    "condition": _event(
                        "$pageview", "count", operator="gte", value=3, within="90s"
                    ),
                },
                _person("email", "is_set"),
                _person("plan", "neq", "enterprise"),
                _person("age", "lte", 60),
            ],
        },
        min_dwell="5m",
        max_dwell="3h",
        entry_limit=2,
    ),
    _cohort(
        "signed-up-twice-or-free",
        {
            "type": "or",
            "conditions": [
                _event("signup", "count", operator="eq", value=2),
                {
                    "type": "and",
                    "conditions": [
                        _person("plan", "not_in", ["pro", "enterprise"]),
                        _person("plan", "is_not_set"),
                    ],
                },
                _person("age", "lt", 20),
                _person("age", "gte", 99),
            ],
        },
    ),
    # First time: a first login within the hour (a late event stamped earlier moves it),
    # and a first big purchase within 2h, shared with a count on the same counter.
    _cohort("new-login", _event("login", "first_time", within="1h")),
    _cohort(
        "first-big-buy",
        {
            "type": "and",
            "conditions": [
                _event(
                    "purchase",
                    "first_time",
                    within="2h",
                    where=[{"key": "amount", "operator": "gte", "value": 50}],
                ),
                {
                    "type": "not",
                    "condition": _event(
                        "purchase",
                        "count",
                        operator="gte",
                        value=3,
                        within="30m",
                        where=[{"key": "amount", "operator": "gte", "value": 50}],
                    ),
                },
            ],
        },
    ),
    # Relative ranges, lapsing, coming back and regular visits.
    _cohort("clicked-earlier", _event("click", between=["3h", "1h"])),
    _cohort(
        "bought-twice-earlier",
        _event(
            "purchase",
            "count",
            operator="gte",
            value=2,
            between=["8h", "2h"],
            where=[{"key": "amount", "operator": "gte", "value": 50}],
        ),
    ),
    _cohort("lapsed-login", _event("login", "stopped", between=["12h", "4h"]), max_dwell="6h"),
    _cohort("comeback", _event("login", "started_again", gap="6h", within="2h")),
    _cohort(
        "regular-readers",
        _event("$pageview", "regularly", value=3, of_last=4, period="hour"),
        min_dwell="20m",
    ),
    _cohort("daily-clickers", _event("click", "regularly", value=2, of_last=2, period="day")),
    # Sequences: a docs read then a buy click within 30 minutes, completed in the last
    # 2 hours (the click counter is shared with "buyers"); login, pricing, purchase.
    _cohort(
        "docs-then-buy",
        {
            "type": "sequence",
            "within": "2h",
            "steps": [
                {
                    "event": "$pageview",
                    "where": [{"key": "path", "operator": "regex", "value": "^/docs"}],
                },
                {
                    "event": "click",
                    "within": "30m",
                    "where": [{"key": "button", "operator": "eq", "value": "buy"}],
                },
            ],
        },
    ),
    _cohort(
        "login-pricing-purchase",
        {
            "type": "and",
            "conditions": [
                {
                    "type": "sequence",
                    "within": "6h",
                    "steps": [
                        {"event": "login"},
                        {"event": "$pageview", "within": "1h"},
                        {"event": "purchase", "within": "20m"},
                    ],
                },
                {"type": "not", "condition": {"type": "cohort", "cohort_id": "buyers"}},
            ],
        },
        max_dwell="3h",
    ),
    # Short windows: a late event's effect can end before it arrives (corrections).
    _cohort(
        "clicked-buy-10m",
        _event("click", within="10m", where=[{"key": "button", "operator": "eq", "value": "buy"}]),
    ),
    _cohort(
        "no-pageview-20m",
        {
            "type": "and",
            "conditions": [_event("$pageview"), _event("$pageview", "not_exists", within="20m")],
        },
    ),
    _cohort(
        "quick-docs-buy",
        {
            "type": "sequence",
            "within": "15m",
            "steps": [
                {"event": "$pageview"},
                {"event": "click", "within": "5m"},
            ],
        },
    ),
    _cohort(
        "quiet-since",
        {
            "type": "and",
            "conditions": [
                _event("$pageview", "not_exists", between=["2h", "30m"]),
                _event("$pageview", "count", operator="lte", value=1, between=["30m", "1m"]),
            ],
        },
    ),
]


def cohort_workload(seed: int, users: int = 12, events: int = 300) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    anon = {u: [f"anon-{u}-{k}" for k in range(rng.randint(1, 2))] for u in range(users)}
    aliases = {u: [f"alias-{u}-{k}" for k in range(rng.randint(0, 1))] for u in range(users)}
    root = list(range(users))  # users merged together act as one person

    def find(user: int) -> int:
        while root[user] != user:
            user = root[user]
        return user

    out: list[dict[str, Any]] = []
    received = 1_700_000_000
    busy: set[int] = set()  # persons with an event in the current second

    def emit(
        user: int, distinct_id: str, name: str, properties: dict[str, Any], other: int = -1
    ) -> None:
        nonlocal received
        persons = {find(user)} | ({find(other)} if other >= 0 else set())
        gap = rng.choice([0, 0, 1, 5, 30, 120, 600, 1800]) if rng.random() < 0.97 else 8 * 3600
        if gap == 0 and persons & busy:
            gap = 1
        if gap:
            received += gap
            busy.clear()
        busy.update(persons)
        stamp = received
        roll = rng.random()
        if roll < 0.06:
            stamp -= rng.randint(1, 3 * 3600)  # late
        elif roll < 0.09:
            stamp += rng.randint(1, 600)  # stamped ahead of its arrival
        out.append(
            {
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "project_id": PROJECT,
                "event": name,
                "distinct_id": distinct_id,
                "person_id": "",
                "properties": properties,
                "timestamp_us": stamp * 1_000_000,
                "created_at_us": received * 1_000_000 + rng.randrange(1_000_000),
                "warnings": [],
            }
        )

    for _ in range(events):
        user = rng.randrange(users)
        ids = [*anon[user], f"user-{user}", *aliases[user]]
        did = rng.choice(ids)
        roll = rng.random()
        if roll < 0.30:
            path = rng.choice(["/", "/pricing", "/docs/start", "/docs/api", "/blog"])
            emit(user, did, "$pageview", {"path": path})
        elif roll < 0.48:
            emit(user, did, "click", {"button": rng.choice(["buy", "buy", "other"])})
        elif roll < 0.56:
            emit(user, did, "purchase", {"amount": rng.choice([10, 49, 50, 120, "75"])})
        elif roll < 0.66:
            emit(user, did, "login", {})
        elif roll < 0.70:
            emit(user, did, "signup", {})
        elif roll < 0.82:
            updates: dict[str, Any] = {}
            if rng.random() < 0.6:
                updates["plan"] = rng.choice(["free", "pro", "enterprise"])
            if rng.random() < 0.5:
                updates["age"] = rng.choice([15, 25, 41, 60, 61, 99])
            if rng.random() < 0.4:
                updates["email"] = rng.choice([f"u{user}@example.com", "not-an-email"])
            properties: dict[str, Any] = {"$set": updates}
            if rng.random() < 0.15:
                properties = {"$unset": [rng.choice(["plan", "age", "email"])]}
            emit(user, did, "$set", properties)
        elif roll < 0.91:
            emit(
                user,
                f"user-{user}",
                "$identify",
                {"$anon_distinct_id": rng.choice(anon[user]), "$set_once": {"age": 30}},
            )
        elif roll < 0.95 and aliases[user]:
            emit(user, f"user-{user}", "$create_alias", {"alias": aliases[user][0]})
        elif roll < 0.965:
            other = rng.randrange(users)
            emit(user, f"user-{user}", "$merge_dangerously", {"alias": f"user-{other}"}, other)
            root[find(other)] = find(user)
        elif roll < 0.975:
            emit(user, did, "$delete_person", {})
        elif roll < 0.99:
            member = {"cohort_id": rng.choice(["vip", "vip", "nope"]), "member": rng.random() < 0.7}
            emit(user, did, "$cohort_member", member)
        else:
            emit(user, did, "$pageview", {"path": "/"})
    return out
