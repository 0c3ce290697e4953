"""The stream's cohorts against the batch oracle: same memberships, same transitions.

Long seeded workloads (every condition type, dwell rules, entry limits, late
and early-stamped events, identifies, aliases, merges, deletes) go through the
simulated network second by second with the clock injected: timers due
before a second fire before its events, as the timer loop would. Half the
seeds redeliver messages at random (at-least-once). Zero differences allowed.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cohortstream.cohorts.definition import parse_definition
from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.oracle.cohorts import CohortsOracle
from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.tables import person_cohorts
from cohortstream.tables.person_state import is_live

from .cohort_workload import COHORTS, cohort_workload
from .network import Network

DEFINITIONS = [parse_definition(raw) for raw in COHORTS]


def received(event: dict[str, Any]) -> int:
    return int(event["created_at_us"] // 1_000_000)


def stream_members(network: Network) -> set[tuple[str, str]]:
    return {
        (cohort_id, state["id"])
        for state in network.persons.values()
        if is_live(state)
        for cohort_id, membership in state.get("cohorts", {}).items()
        if membership[0]
    }


def by_key(transitions: list[dict[str, Any]], where: str) -> dict[str, dict[str, Any]]:
    keyed: dict[str, dict[str, Any]] = {}
    for change in transitions:
        first = keyed.setdefault(change["idempotency_key"], change)
        assert first == change, f"{where}: one key, two transitions: {first} != {change}"
    return keyed


def assert_same(network: Network, oracle: CohortsOracle) -> None:
    """Same memberships now, and the same transitions, key for key."""
    assert stream_members(network) == oracle.members()
    expected = by_key(oracle.transitions, "oracle")
    actual = by_key(network.transitions, "stream")
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    assert not missing and not extra, f"missing {missing[:5]}, extra {extra[:5]}"
    assert actual == expected


def run_both(
    seed: int,
    redelivery: float,
    crashes: float = 0.0,
    rules: IdentityRules | None = None,
    late_within_s: int = 0,
) -> tuple[Network, CohortsOracle]:
    events = cohort_workload(seed)
    network = Network(
        seed=seed,
        redelivery=redelivery,
        crashes=crashes,
        cohorts=CohortRegistry(DEFINITIONS),
        rules=rules or IdentityRules(),
    )
    oracle = CohortsOracle(DEFINITIONS, late_corrections_within_s=late_within_s)
    for second, batch in itertools.groupby(events, key=received):
        arrivals = list(batch)
        network.advance_clock(second - 1)
        for event in arrivals:
            network.send_event(event)
        network.run()
        if crashes:
            network.commit()  # the simulated consumer commits once it has caught up
        for event in arrivals:
            oracle.apply(event)
        assert stream_members(network) == oracle.members(), f"memberships differ at {second}"
    end = received(events[-1]) + 3 * 86_400
    network.advance_clock(end)
    oracle.advance(end)
    return network, oracle


@pytest.mark.parametrize("seed", range(40))
def test_stream_cohorts_equal_the_batch_oracle(seed):
    network, oracle = run_both(seed, redelivery=0.15 if seed % 2 else 0.0)
    assert_same(network, oracle)
    # The workload exercises what it claims to.
    sources = {t["source"] for t in oracle.transitions}
    assert len(oracle.transitions) > 20
    assert {"event", "timer"} <= sources


@pytest.mark.parametrize("seed", range(100, 140))
def test_crashes_lose_nothing_and_repeat_nothing(seed):
    """Whole-system crashes: tables back to their last commit, everything consumed
    since delivered again, timers rebuilt from the recovered table."""
    network, oracle = run_both(seed, redelivery=0.05, crashes=0.02)
    assert_same(network, oracle)


@pytest.mark.parametrize("seed", range(200, 210))
def test_two_phase_merges_under_a_limit_nobody_reaches_change_no_cohort(seed):
    """With a distinct_id limit, merges wait for the survivor to make room: the
    cohorts, merges included, are still the oracle's."""
    rules = IdentityRules(limits={1: 1_000})
    network, oracle = run_both(seed, redelivery=0.1, crashes=0.01 if seed % 2 else 0.0, rules=rules)
    assert_same(network, oracle)
    assert any(t["source"] == "merge" for t in oracle.transitions)


@pytest.mark.parametrize("seed", range(300, 320))
def test_late_events_correct_the_past_as_the_oracle_does(seed, monkeypatch):
    """Within the lateness bound, a late event's effect on the past comes out as
    ``source: late`` transitions: the same ones, once each, as the oracle's."""
    monkeypatch.setattr(person_cohorts, "late_corrections_within_s", 3_600)
    redelivery, crashes = (0.1, 0.01) if seed % 2 else (0.0, 0.0)
    network, oracle = run_both(seed, redelivery, crashes, late_within_s=3_600)
    assert_same(network, oracle)
    LATE_SEEN.update(t["cohort_id"] for t in oracle.transitions if t["source"] == "late")


LATE_SEEN: set[str] = set()


def test_late_corrections_reach_several_kinds_of_condition():
    """Runs after the seeds above (pytest keeps file order): they corrected cohorts
    of more than one kind of condition."""
    assert len(LATE_SEEN) >= 3, LATE_SEEN
