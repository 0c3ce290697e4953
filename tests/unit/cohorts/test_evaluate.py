"""Criteria evaluation and the next moment a result can change."""

import pytest

from cohortstream.cohorts.counters import Needs, record, spec_key
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
