"""Seeded identity workloads whose outcome does not depend on delivery order.

Users have anonymous ids that get identified, aliases, and are sometimes
merged with each other (``$merge_dangerously``). Each distinct_id ``$set``s and
``$unset``s keys of its own (a later write wins by event time) and all of them
``$set_once`` a shared key (the earliest wins), so a correct stream ends with
exactly what the sequential oracle computes, whatever the interleaving.
"""

from __future__ import annotations

import random
import uuid
from typing import Any


def identity_workload(
    seed: int, users: int = 20, events: int = 600, project_id: int = 1
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    anon = {u: [f"anon-{u}-{k}" for k in range(rng.randint(1, 3))] for u in range(users)}
    aliases = {u: [f"alias-{u}-{k}" for k in range(rng.randint(0, 2))] for u in range(users)}
    out: list[dict[str, Any]] = []
    clock = 1_700_000_000_000_000

    def event(distinct_id: str, name: str, properties: dict[str, Any]) -> None:
        nonlocal clock
        clock += rng.randint(1, 5_000_000)
        # A few events arrive late (event time well before their neighbours).
        skew = rng.randint(0, 3_600_000_000) if rng.random() < 0.05 else 0
        out.append(
            {
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "project_id": project_id,
                "event": name,
                "distinct_id": distinct_id,
                "person_id": "",
                "properties": properties,
                "timestamp_us": clock - skew,
                "created_at_us": clock,
                "warnings": [],
            }
        )

    for _ in range(events):
        user = rng.randrange(users)
        roll = rng.random()
        if roll < 0.55:
            did = rng.choice([*anon[user], f"user-{user}", *aliases[user]])
            value = rng.randint(0, 1000)
            properties: dict[str, Any] = {
                "$set": {f"p_{did}": value},
                "$set_once": {f"first_{did}": value, "first_seen_as": did},
            }
            if rng.random() < 0.1:
                properties = {"$unset": [f"p_{did}"]}
            event(did, "$pageview", properties)
        elif roll < 0.75 and anon[user]:
            event(f"user-{user}", "$identify", {"$anon_distinct_id": rng.choice(anon[user])})
        elif roll < 0.85 and aliases[user]:
            event(f"user-{user}", "$create_alias", {"alias": rng.choice(aliases[user])})
        elif roll < 0.865:
            other = rng.randrange(users)
            event(f"user-{user}", "$merge_dangerously", {"alias": f"user-{other}"})
        else:
            event(f"user-{user}", "signed_in", {"$set": {f"p_user-{user}": rng.randint(0, 9)}})
    return out
