"""Cohort definitions: the issue's example parses; every mistake names its field."""

import pytest

from cohortstream.cohorts.definition import (
    DefinitionError,
    dependency_order,
    parse_definition,
    parse_duration,
)

LAPSED_BUYERS = {
    "id": "lapsed-buyers",
    "project_id": 1,
    "name": "Lapsed buyers",
    "kind": "dynamic",
    "criteria": {
        "type": "and",
        "conditions": [
            {"type": "event", "event": "purchase", "check": "exists"},
            {"type": "event", "event": "purchase", "check": "not_exists", "within": "30d"},
            {"type": "person", "key": "plan", "operator": "neq", "value": "enterprise"},
        ],
    },
    "min_dwell": "1h",
    "max_dwell": "90d",
    "entry_limit": "unlimited",
}


def cohort(cohort_id, criteria, **extra):
    return {"id": cohort_id, "project_id": 1, "name": cohort_id, "criteria": criteria, **extra}


def test_the_documented_example_parses():
    definition = parse_definition(LAPSED_BUYERS)
    assert definition.criteria.conditions[1].window_seconds == 30 * 86_400
    assert definition.min_dwell_seconds == 3600 and definition.max_dwell_seconds == 90 * 86_400
    assert definition.max_entries is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("12h", 43_200), ("7d", 604_800)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"type": "event", "event": "a", "within": "7x"}, "criteria.within"),
        ({"type": "event", "event": "a", "check": "count"}, "criteria"),
        ({"type": "event", "event": "a", "check": "exists", "value": 3}, "criteria"),
        ({"type": "person", "key": "a", "operator": "regex", "value": "("}, "criteria"),
        ({"type": "person", "key": "a", "operator": "in", "value": 3}, "criteria"),
        ({"type": "person", "key": "a", "operator": "is_set", "value": 3}, "criteria"),
        ({"type": "and", "conditions": []}, "criteria.conditions"),
        ({"type": "or", "conditions": [{"type": "nope"}]}, "criteria.conditions.0"),
        ({"type": "event", "event": "a", "within": "999d"}, "criteria.within"),
    ],
)
def test_invalid_criteria_name_the_field(criteria, field):
    with pytest.raises(DefinitionError) as error:
        parse_definition(cohort("c", criteria))
    assert error.value.field == field, str(error.value)


def test_kind_rules():
    with pytest.raises(DefinitionError, match="manual cohorts take no criteria"):
        parse_definition(cohort("m", {"type": "event", "event": "a"}, kind="manual"))
    assert parse_definition({"id": "m", "project_id": 1, "name": "m", "kind": "manual"})
    with pytest.raises(DefinitionError, match="min_dwell is longer"):
        parse_definition(
            cohort("d", {"type": "event", "event": "a"}, min_dwell="2d", max_dwell="1d")
        )
    with pytest.raises(DefinitionError) as error:
        parse_definition(cohort("Bad Id", {"type": "event", "event": "a"}))
    assert error.value.field == "id"


def test_dependencies_are_ordered_and_cycles_rejected():
    a = parse_definition(cohort("a", {"type": "cohort", "cohort_id": "b"}))
    b = parse_definition(cohort("b", {"type": "event", "event": "x"}))
    assert [d.id for d in dependency_order([a, b])] == ["b", "a"]
    c1 = parse_definition(cohort("c1", {"type": "cohort", "cohort_id": "c2"}))
    c2 = parse_definition(
        cohort("c2", {"type": "not", "condition": {"type": "cohort", "cohort_id": "c1"}})
    )
    with pytest.raises(DefinitionError, match="cycle: c1 -> c2 -> c1"):
        dependency_order([c1, c2])
    with pytest.raises(DefinitionError, match="unknown cohort 'zz'"):
        dependency_order([parse_definition(cohort("y", {"type": "cohort", "cohort_id": "zz"}))])
