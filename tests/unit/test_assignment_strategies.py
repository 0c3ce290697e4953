"""Assignment strategies: exact shares, inactive owners skipped, parking."""

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortstream.assignment.strategies import NoActiveOwner, Owner, cycle, owner_for

TEAM = [
    Owner("ana", daily_capacity=50),
    Owner("ben", daily_capacity=30),
    Owner("cy", daily_capacity=20),
]


def assigned(strategy, owners, start, count):
    return [owner_for(strategy, owners, n) for n in range(start, start + count)]


@pytest.mark.parametrize("start", [0, 1, 7, 55, 99, 1234])
def test_capacity_weighted_is_exact_in_every_window_of_100(start):
    shares = Counter(assigned("capacity_weighted", TEAM, start, 100))
    assert shares == {"ana": 50, "ben": 30, "cy": 20}


def test_capacity_weighted_spreads_entrants_rather_than_batching_them():
    first_ten = assigned("capacity_weighted", TEAM, 0, 10)
    assert Counter(first_ten) == {"ana": 5, "ben": 3, "cy": 2}
    assert "ana,ana,ana" not in ",".join(first_ten)


def test_round_robin_splits_equally_in_entry_order():
    assert assigned("round_robin", TEAM, 0, 6) == ["ana", "ben", "cy", "ana", "ben", "cy"]


def test_inactive_owners_are_skipped_and_none_active_parks():
    team = [Owner("ana", active=False, daily_capacity=50), *TEAM[1:]]
    assert Counter(assigned("capacity_weighted", team, 0, 50)) == {"ben": 30, "cy": 20}
    assert set(assigned("round_robin", team, 0, 4)) == {"ben", "cy"}
    with pytest.raises(NoActiveOwner):
        owner_for("round_robin", [Owner("ana", active=False)], 0)
    with pytest.raises(NoActiveOwner):
        owner_for("capacity_weighted", [Owner("ana", daily_capacity=0)], 0)


@settings(max_examples=200, deadline=None)
@given(
    capacities=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    start=st.integers(0, 10_000),
)
def test_every_full_cycle_gives_each_owner_exactly_its_share(capacities, start):
    owners = [Owner(f"o{i}", daily_capacity=c) for i, c in enumerate(capacities)]
    period = len(cycle("capacity_weighted", owners))
    shares = Counter(assigned("capacity_weighted", owners, start, period))
    total = sum(capacities)
    assert all(shares[o.id] * total == o.daily_capacity * period for o in owners)
