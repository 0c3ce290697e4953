"""Seeded generator of SDK-like traffic: sessions, signups, identifies, purchases.

Users arrive anonymous; some sign up, which sends ``$identify`` linking the
anonymous id to a user id, and later buy. Payloads are SDK batches (one per
session flush, one device each). A small share is malformed, as real traffic is.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

PAGES = ["/", "/pricing", "/docs", "/blog", "/features", "/signup", "/checkout", "/account"]
REFERRERS = [
    "https://www.google.com/",
    "https://news.ycombinator.com/",
    "$direct",
    "https://twitter.com/",
    "https://www.reddit.com/",
]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge"]
# Public addresses of well-known networks across continents, for GeoIP.
IPS = [
    "8.8.8.8",
    "81.2.69.142",
    "89.160.20.112",
    "175.16.199.1",
    "216.160.83.56",
    "2.125.160.216",
    "67.43.156.1",
    "202.196.224.1",
]
PLANS = ["free", "starter", "pro", "enterprise"]


@dataclass(frozen=True)
class DemoConfig:
    users: int = 2000
    project_id: int = 1
    seed: int = 7
    malformed_share: float = 0.005
    days: int = 3


def generate_payloads(config: DemoConfig, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Yield SDK batch payloads (``{"batch": [...], "project_id": ...}``), time-ordered per user."""
    rng = random.Random(config.seed)
    now = now or datetime.now(UTC)
    for index in range(config.users):
        anon_id = str(uuid.UUID(int=rng.getrandbits(128)))
        user_id = f"user-{config.seed}-{index}"
        device = {
            "$browser": rng.choice(BROWSERS),
            "$os": rng.choice(["Mac OS X", "Windows", "iOS", "Android"]),
        }
        ip = rng.choice(IPS)
        # Zipf-like activity: a few users have many sessions.
        sessions = min(1 + int(rng.paretovariate(1.5)), 12)
        clock = now - timedelta(days=config.days) + timedelta(seconds=rng.uniform(0, 86400))
        identified = False
        for _ in range(sessions):
            if clock >= now - timedelta(hours=1):
                break  # history only: real SDKs do not send events from the future
            events: list[dict[str, Any]] = []
            distinct_id = user_id if identified else anon_id
            referrer = rng.choice(REFERRERS)
            for page in rng.sample(PAGES, rng.randint(1, 5)):
                clock += timedelta(seconds=rng.uniform(2, 90))
                events.append(
                    _event(
                        "$pageview",
                        distinct_id,
                        clock,
                        ip,
                        {
                            **device,
                            "$current_url": f"https://example.com{page}",
                            "$pathname": page,
                            "$referrer": referrer,
                        },
                    )
                )
                if rng.random() < 0.4:
                    clock += timedelta(seconds=rng.uniform(1, 20))
                    events.append(
                        _event(
                            "button_clicked",
                            distinct_id,
                            clock,
                            ip,
                            {
                                **device,
                                "$pathname": page,
                                "button": rng.choice(["cta", "nav", "share", "docs"]),
                            },
                        )
                    )
            if not identified and rng.random() < 0.3:
                clock += timedelta(seconds=rng.uniform(5, 60))
                plan = rng.choice(PLANS)
                events.append(_event("signed_up", anon_id, clock, ip, {**device, "plan": plan}))
                events.append(
                    _event(
                        "$identify",
                        user_id,
                        clock,
                        ip,
                        {
                            "$anon_distinct_id": anon_id,
                            "$set": {"plan": plan, "email": f"{user_id}@example.com"},
                        },
                    )
                )
                identified = True
            elif identified and rng.random() < 0.35:
                clock += timedelta(seconds=rng.uniform(5, 120))
                events.append(
                    _event(
                        "purchase",
                        user_id,
                        clock,
                        ip,
                        {**device, "amount": round(rng.uniform(5, 500), 2), "currency": "USD"},
                    )
                )
            if rng.random() < config.malformed_share * len(events):
                events.append(_malformed(rng, distinct_id))
            # No sent_at: this replays history, whose clocks need no skew correction.
            yield {"batch": events, "project_id": config.project_id}
            clock += timedelta(hours=rng.uniform(1, 30))


def _event(
    name: str, distinct_id: str, at: datetime, ip: str, properties: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event": name,
        "distinct_id": distinct_id,
        "timestamp": at.isoformat(),
        "ip": ip,
        "properties": properties,
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{distinct_id}/{name}/{at.isoformat()}")),
    }


def _malformed(rng: random.Random, distinct_id: str) -> dict[str, Any]:
    return rng.choice(
        [
            {"event": "$pageview", "properties": {"$pathname": "/"}},  # no distinct_id
            {"event": "", "distinct_id": distinct_id},  # empty event name
            {"event": "clicked", "distinct_id": distinct_id, "properties": "not-an-object"},
        ]
    )
