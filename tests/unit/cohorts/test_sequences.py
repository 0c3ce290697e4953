"""Sequences read from bounded step lists answer what every occurrence would.

Occurrences of each step arrive in any order (late, stamped ahead, redelivered)
and split between two persons that merge; at every moment from the last arrival
on, the stream's answer equals the oracle's exhaustive search over all of them.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohortstream.cohorts.counters import (
    MAX_SEQUENCE_POINTS,
    Needs,
    merge_counters,
    record,
    sequence_points,
)
from cohortstream.cohorts.definition import DefinitionError, SequenceCondition, parse_definition
from cohortstream.cohorts.evaluate import evaluate
from cohortstream.cohorts.explain import explain
from cohortstream.cohorts.registry import CohortRegistry, counter_reads
from cohortstream.cohorts.sequences import chain_ends, window_outcome
from cohortstream.oracle.cohorts import sequence_holds


def sequence(window: str, *steps: tuple[str, str | None]) -> SequenceCondition:
    return SequenceCondition.model_validate(
        {
            "type": "sequence",
            "within": window,
            "steps": [{"event": event, **({"within": gap} if gap else {})} for event, gap in steps],
        }
    )


def points(*times: int) -> list[list[object]]:
    return [[t, f"u{t}"] for t in times]


def test_a_chain_needs_each_step_strictly_later_and_within_its_gap():
    # a at 100; b at 100 (same second: not after), 160 (inside 60 s), 161 (too late)
    assert chain_ends([points(100), points(100, 160, 161)], [60]) == [160]


def test_the_latest_earlier_end_decides_the_next_step():
    # b at 130 is reached from a at 100; c at 185 is within 60 s of b at 130 only.
    ends = chain_ends([points(100), points(130, 300), points(185, 400)], [60, 60])
    assert ends == [185]


def test_window_outcome_says_when_the_answer_can_change():
    assert window_outcome([100, 150], now=160, window=100) == (True, 250)
    assert window_outcome([100, 150], now=250, window=100) == (False, None)
    assert window_outcome([300], now=160, window=100) == (False, 300)  # stamped ahead


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (
            {"within": "1d", "steps": [{"event": "a"}, {"event": "b"}]},
            "criteria: step 2 needs within (how soon after step 1)",
        ),
        (
            {"within": "1d", "steps": [{"event": "a", "within": "1h"}, {"event": "b"}]},
            "criteria: the first step takes no within (nothing comes before it)",
        ),
        (
            {"within": "300d", "steps": [{"event": "a"}, {"event": "b", "within": "101d"}]},
            "criteria: within and the steps' within together reach past 400d",
        ),
        (
            {"within": "1d", "steps": [{"event": "a"}, {"event": "b", "within": "7x"}]},
            "criteria.steps.1.within: '7x' is not a duration like 90s, 15m, 12h or 7d",
        ),
    ],
)
def test_bad_sequences_are_refused_naming_the_field(criteria, message):
    raw = {"id": "s", "project_id": 1, "name": "s", "criteria": {"type": "sequence", **criteria}}
    with pytest.raises(DefinitionError) as error:
        parse_definition(raw)
    assert str(error.value) == message


def needs_by_spec(condition: SequenceCondition) -> dict[str, Needs]:
    found: dict[str, Needs] = {}
    for spec, _, needs in counter_reads(condition):
        found[spec] = found.get(spec, Needs()).merge(needs)
    return found


def test_step_lists_keep_one_occurrence_per_second_within_the_horizon():
    c = sequence("100s", ("a", None), ("b", "50s"))
    needs = needs_by_spec(c)["b"]
    counter = None
    for at, uuid in [(500, "x"), (500, "y"), (300, "old"), (450, "z")]:
        counter = record(counter, at, uuid, needs, now=500)
    # 300 is past b's horizon (the window, 100 s); the second event at 500 adds nothing.
    assert sequence_points(counter, *c.step_lists[1]) == [[450, "z"], [500, "x"]]


def test_step_lists_drop_the_oldest_past_their_cap():
    c = sequence("399d", ("a", None), ("b", "1s"))
    needs = needs_by_spec(c)["b"]
    counter = None
    for at in range(MAX_SEQUENCE_POINTS + 5):
        counter = record(counter, at, f"u{at}", needs, now=at)
    kept = sequence_points(counter, *c.step_lists[1])
    assert len(kept) == MAX_SEQUENCE_POINTS
    assert kept[0][0] == 5
    tree = explain(c, now=2000, properties={}, counters={"b": counter}, memberships={})
    assert tree["steps_at_cap"] == [2]


def test_the_first_step_is_thinned_to_its_gap():
    c = sequence("1d", ("a", None), ("b", "1h"))
    needs = needs_by_spec(c)["a"]
    counter = None
    for minute in range(24 * 60):
        counter = record(counter, minute * 60, f"u{minute}", needs, now=minute * 60)
    assert len(sequence_points(counter, *c.step_lists[0])) <= 2 * 25 + 2


def test_registry_feeds_each_step_and_explain_names_the_completions():
    raw = {
        "id": "docs-then-buy",
        "project_id": 1,
        "name": "d",
        "criteria": {
            "type": "sequence",
            "within": "1h",
            "steps": [
                {"event": "view", "where": [{"key": "path", "value": "/docs"}]},
                {"event": "buy", "within": "10m"},
            ],
        },
    }
    definition = parse_definition(raw)
    registry = CohortRegistry([definition])
    assert registry.specs_matched(1, "view", {"path": "/docs"}) != []
    assert registry.specs_matched(1, "view", {"path": "/"}) == []
    assert registry.specs_matched(1, "buy", {}) == ["buy"]
    project = registry.project(1)
    counters: dict = {}
    for spec, at in [
        (registry.specs_matched(1, "view", {"path": "/docs"})[0], 1000),
        ("buy", 1300),
    ]:
        counters[spec] = record(counters.get(spec), at, f"u{at}", project.needs[spec], now=1300)
    tree = explain(definition.criteria, now=1400, properties={}, counters=counters, memberships={})
    assert tree["matches"] is True
    assert tree["completed_at"] == [1300]
    assert tree["steps_at_cap"] == []
    assert tree["next_change"] == 1300 + 3600


def test_earlier_steps_reach_back_by_the_gaps_after_them():
    c = sequence("100s", ("a", None), ("b", "50s"))
    needs = needs_by_spec(c)
    counters = {"a": record(None, 1000, "a1", needs["a"], now=1000)}
    counters["b"] = record(None, 1040, "b1", needs["b"], now=1040)
    # Recording at 1130 trims: a at 1000 must stay, its chain ends at 1040, in the window.
    counters["a"] = record(counters["a"], 1130, "a2", needs["a"], now=1130)
    assert evaluate(c, now=1130, properties={}, counters=counters, memberships={}).matches


arrivals = st.lists(
    st.tuples(
        st.integers(0, 2),  # step
        st.integers(0, 600),  # time
        st.integers(0, 100),  # stamped ahead of its arrival by
        st.booleans(),  # which of two persons
        st.booleans(),  # redelivered
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(
    occurrences=arrivals,
    window=st.integers(1, 200),
    gaps=st.tuples(st.integers(1, 100), st.integers(1, 100)),
    three=st.booleans(),
)
def test_sequences_are_exact(occurrences, window, gaps, three):
    names = ["a", "b", "c"] if three else ["a", "b"]
    steps = [(name, f"{gaps[i - 1]}s" if i else None) for i, name in enumerate(names)]
    c = sequence(f"{window}s", *steps)
    needs = needs_by_spec(c)
    persons: list[dict] = [{}, {}]
    every: list[list[tuple[int, str]]] = [[] for _ in names]
    arrived = 0
    for index, (step, at, ahead, other, again) in enumerate(occurrences):
        if step >= len(names):
            continue
        arrived = max(arrived, at - ahead)
        counters = persons[int(other)]
        spec = names[step]
        for _ in range(2 if again else 1):
            counters[spec] = record(counters.get(spec), at, f"u{index:03d}", needs[spec], arrived)
        every[step].append((at, f"u{index:03d}"))
    merged = {
        spec: merge_counters(persons[0].get(spec), persons[1].get(spec), needs[spec], arrived)
        for spec in names
    }
    merged = {spec: counter for spec, counter in merged.items() if counter is not None}
    moments = {m for times in every for at, _ in times for m in (at, at + window)}
    outcome = None
    for now in sorted({arrived, *(m - d for m in moments for d in (0, 1) if m - d >= arrived)}):
        outcome = evaluate(c, now=now, properties={}, counters=merged, memberships={})
        assert outcome.matches == sequence_holds(c, [sorted(t) for t in every], now), now
    # The next change is never late: nothing flips before it.
    now = arrived
    while outcome is not None:
        outcome = evaluate(c, now=now, properties={}, counters=merged, memberships={})
        if outcome.next_change is None:
            break
        assert outcome.next_change > now
        before = sequence_holds(c, [sorted(t) for t in every], outcome.next_change - 1)
        assert before == outcome.matches
        now = outcome.next_change
