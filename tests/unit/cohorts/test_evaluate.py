"""Criteria evaluation and the next moment a result can change."""

import pytest

from cohortstream.cohorts.counters import Needs, merge_counters, record, spec_key
from cohortstream.cohorts.definition import parse_definition
from cohortstream.cohorts.evaluate import compare, evaluate, matches_filters

DAY = 86_400


def criteria(spec):
    return parse_definition({"id": "c", "project_id": 1, "name": "c", "criteria": spec}).criteria


def counters_for(condition, *times):
    counter = None
    for at in times:
        counter = record(counter, at, f"u{at}", Needs(latest=5, total_cap=5), max(times))
    return {spec_key(condition): counter}


def test_rolling_window_count_and_its_deadline():
    condition = criteria(
        {
            "type": "event",
            "event": "buy",
            "check": "count",
            "operator": "gte",
            "value": 2,
            "within": "7d",
        }
    )
    counters = counters_for(condition, 0, 3 * DAY)
    outcome = evaluate(condition, now=4 * DAY, properties={}, counters=counters, memberships={})
    assert outcome.matches and outcome.next_change == 7 * DAY
    later = evaluate(condition, now=7 * DAY, properties={}, counters=counters, memberships={})
    assert not later.matches  # (0d, 7d] no longer holds the occurrence at 0
    assert later.next_change == 10 * DAY


def test_absence_joins_when_the_window_completes():
    condition = criteria({"type": "event", "event": "buy", "check": "not_exists", "within": "30d"})
    counters = counters_for(condition, 10 * DAY)
    at_20 = evaluate(condition, now=20 * DAY, properties={}, counters=counters, memberships={})
    assert not at_20.matches and at_20.next_change == 40 * DAY
    assert evaluate(
        condition, now=40 * DAY, properties={}, counters=counters, memberships={}
    ).matches


def test_composites_person_and_cohort_conditions():
    condition = criteria(
        {
            "type": "and",
            "conditions": [
                {"type": "person", "key": "plan", "operator": "in", "value": ["pro", "max"]},
                {"type": "not", "condition": {"type": "cohort", "cohort_id": "churned"}},
                {
                    "type": "or",
                    "conditions": [
                        {
                            "type": "person",
                            "key": "email",
                            "operator": "regex",
                            "value": "@acme\\.",
                        },
                        {"type": "person", "key": "seats", "operator": "gt", "value": 10},
                    ],
                },
            ],
        }
    )
    kwargs = {"now": 0, "counters": {}}
    assert evaluate(
        condition, properties={"plan": "pro", "seats": "12"}, memberships={}, **kwargs
    ).matches
    assert not evaluate(
        condition, properties={"plan": "pro", "seats": 12}, memberships={"churned": True}, **kwargs
    ).matches
    assert not evaluate(
        condition, properties={"plan": "free", "email": "a@acme.io"}, memberships={}, **kwargs
    ).matches


@pytest.mark.parametrize(
    ("operator", "actual", "expected", "result"),
    [
        ("eq", "a", "a", True),
        ("neq", "a", "b", True),
        ("gt", 3, 2, True),
        ("gt", "3", 2, True),
        ("gt", "x", 2, False),
        ("lte", 2.5, 3, True),
        ("contains", "hello", "ell", True),
        ("in", "a", ["a"], True),
        ("not_in", "a", ["a"], False),
        ("is_set", None, None, False),
        ("gt", True, 0, False),
        ("eq", None, "a", False),
    ],
)
def test_operators(operator, actual, expected, result):
    assert compare(operator, actual, expected) is result


def test_missing_properties_only_match_negations():
    condition = criteria(
        {
            "type": "event",
            "event": "x",
            "where": [
                {"key": "plan", "operator": "neq", "value": "free"},
                {"key": "country", "operator": "is_not_set"},
            ],
        }
    )
    assert matches_filters(condition.where, {})
    assert not matches_filters(condition.where, {"plan": "free"})


FIRST_LOGIN = {"type": "event", "event": "login", "check": "first_time", "within": "7d"}


def test_first_time_holds_while_the_first_occurrence_is_in_the_window():
    condition = criteria(FIRST_LOGIN)
    counter = None
    for at in (10 * DAY, 12 * DAY):  # the second login does not move the first
        counter = record(counter, at, f"u{at}", Needs(first=True), at)
    counters = {spec_key(condition): counter}

    def at(now):
        outcome = evaluate(condition, now=now, properties={}, counters=counters, memberships={})
        return outcome.matches, outcome.next_change

    assert at(9 * DAY) == (False, 10 * DAY)  # stamped ahead: enters when its time comes
    assert at(10 * DAY) == (True, 17 * DAY)
    assert at(17 * DAY) == (False, None)  # 12d's login is not a first time
    # A late login stamped earlier becomes the first: now out of the window.
    counter = record(counter, 2 * DAY, "late", Needs(first=True), 12 * DAY)
    assert counter["first"] == [2 * DAY, "late"]
    counters[spec_key(condition)] = counter
    assert at(12 * DAY) == (False, None)


def test_first_time_needs_a_window_and_takes_no_threshold():
    with pytest.raises(ValueError, match="first_time"):
        criteria({**FIRST_LOGIN, "within": None})
    with pytest.raises(ValueError, match="operator"):
        criteria({**FIRST_LOGIN, "operator": "gte", "value": 1})


def test_counters_keep_the_first_occurrence_only_where_a_condition_reads_it():
    assert "first" not in record(None, 5, "a", Needs(latest=1), 5)
    merged = merge_counters(
        record(None, 9, "b", Needs(first=True), 9),
        record(None, 4, "a", Needs(first=True), 9),
        Needs(first=True),
        9,
    )
    assert merged is not None and merged["first"] == [4, "a"]
