"""Which owner gets the next entrant of a cohort.

Both strategies are a fixed cycle over the active owners, indexed by how
many entrants the rule has assigned so far (its counter, kept per cohort):

- ``round_robin``: the owners in their configured order, one entrant each;
- ``capacity_weighted``: shares proportional to ``daily_capacity``, spread
  evenly by smooth weighted round robin. The cycle is as long as the sum of
  the capacities divided by their greatest common divisor, so any run of
  that many consecutive entrants (and of any multiple of it: 50/30/20 gives a
  cycle of 10, hence exact shares in every window of 100) is split exactly.

Inactive owners are left out of the cycle; with none active the entrant is
parked until one is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Strategy = Literal["round_robin", "capacity_weighted"]


@dataclass(frozen=True)
class Owner:
    id: str
    active: bool = True
    daily_capacity: int = 1


class NoActiveOwner(LookupError):
    """Every owner of the rule is inactive (or has no capacity): park the entrant."""


def cycle(strategy: Strategy, owners: list[Owner]) -> list[str]:
    """The owner ids in the order entrants go to them, one full period."""
    active = [o for o in owners if o.active and (strategy == "round_robin" or o.daily_capacity > 0)]
    if not active:
        raise NoActiveOwner("no active owner with capacity")
    if strategy == "round_robin":
        return [o.id for o in active]
    divisor = math.gcd(*(o.daily_capacity for o in active))
    weights = [o.daily_capacity // divisor for o in active]
    return _smooth_weighted(active, weights)


def _smooth_weighted(owners: list[Owner], weights: list[int]) -> list[str]:
    """nginx's smooth weighted round robin: each step every owner gains its weight,
    the richest is picked and pays the total. Periodic with period sum(weights)."""
    total = sum(weights)
    current = [0] * len(owners)
    order = []
    for _ in range(total):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        best = max(range(len(owners)), key=lambda i: (current[i], -i))
        current[best] -= total
        order.append(owners[best].id)
    return order


def owner_for(strategy: Strategy, owners: list[Owner], assigned_so_far: int) -> str:
    """The owner of the entrant after ``assigned_so_far`` earlier ones."""
    order = cycle(strategy, owners)
    return order[assigned_so_far % len(order)]
