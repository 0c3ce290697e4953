"""Explanations: the criteria tree with each condition's inputs, never at odds with
the evaluation that decides membership."""

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortstream.cohorts.counters import Needs, record, spec_key
from cohortstream.cohorts.definition import parse_definition
from cohortstream.cohorts.evaluate import evaluate
from cohortstream.cohorts.explain import explain
from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.tables.cohort_why import why_answer
from cohortstream.tables.person_state import new_person

DAY = 86_400
PURCHASES = {"type": "event", "event": "purchase", "check": "count", "operator": "gte"}
CRITERIA = {
    "type": "and",
    "conditions": [
        {**PURCHASES, "value": 2, "within": "7d"},
        {"type": "person", "key": "plan", "operator": "eq", "value": "pro"},
        {"type": "not", "condition": {"type": "cohort", "cohort_id": "churned"}},
    ],
}


def _definition(criteria=CRITERIA, **extra):
    return parse_definition(
        {"id": "c", "project_id": 1, "name": "c", "criteria": criteria, **extra}
    )


def _counters(times):
    leaf = _definition().criteria.conditions[0]
    counter = None
    for n, at in enumerate(times):
        counter = record(counter, at, f"uuid-{n}", Needs(latest=3), now=max(times))
    return {spec_key(leaf): counter}


def test_each_leaf_shows_what_it_read_and_the_tree_its_outcome():
    now = 100 * DAY
    counters = _counters([now - 30 * DAY, now - 3 * DAY, now - DAY])
    tree = explain(
        _definition().criteria,
        now=now,
        properties={"plan": "pro"},
        counters=counters,
        memberships={"churned": False},
    )
    purchases, plan, not_churned = tree["conditions"]
    assert (tree["type"], tree["matches"]) == ("and", True)
    assert purchases["count"] == 2
    assert purchases["occurrences"] == [
        {"at": now - 3 * DAY, "uuid": "uuid-1"},
        {"at": now - DAY, "uuid": "uuid-2"},
    ]
    assert purchases["window"] == {"after": now - 7 * DAY, "until": now}
    # The purchase of three days ago leaves the window first: then it no longer holds.
    assert purchases["next_change"] == tree["next_change"] == now + 4 * DAY
    assert (plan["actual"], plan["is_set"], plan["matches"]) == ("pro", True, True)
    assert not_churned["condition"]["is_member"] is False and not_churned["matches"]


def test_a_missing_property_is_shown_as_not_set():
    tree = explain(_definition().criteria, now=0, properties={}, counters={}, memberships={})
    plan = tree["conditions"][1]
    assert (plan["is_set"], plan["actual"], plan["matches"], tree["matches"]) == (
        False,
        None,
        False,
        False,
    )


@settings(max_examples=200, deadline=None)
@given(
    times=st.lists(st.integers(0, 20 * DAY), max_size=6),
    now=st.integers(0, 30 * DAY),
    plan=st.sampled_from([None, "pro", "free"]),
    churned=st.booleans(),
)
def test_every_node_agrees_with_the_evaluation(times, now, plan, churned):
    criteria = _definition().criteria
    inputs = {
        "now": now,
        "properties": {} if plan is None else {"plan": plan},
        "counters": _counters(times) if times else {},
        "memberships": {"churned": churned},
    }

    def check(node, condition):
        outcome = evaluate(condition, **inputs)
        assert (node["matches"], node["next_change"]) == (outcome.matches, outcome.next_change)
        for child, inner in zip(
            node.get("conditions", []), getattr(condition, "conditions", []), strict=True
        ):
            check(child, inner)
        if "condition" in node:
            check(node["condition"], condition.condition)

    check(explain(criteria, **inputs), criteria)


def test_the_why_answer_of_a_person():
    registry = CohortRegistry(
        [
            _definition(),
            parse_definition({"id": "vip", "project_id": 1, "name": "v", "kind": "manual"}),
            parse_definition({"id": "churned", "project_id": 1, "name": "x", "kind": "manual"}),
        ]
    )
    project = registry.project(1)
    person = new_person(1, "p1", 0)
    person["properties"] = {"plan": "pro"}
    person["cohorts"] = {"c": [True, 50, 1, True, False]}
    body, status = why_answer(person, project, "c", now=60)
    assert status == 200
    assert (body["member"], body["entered_at"], body["entries"]) == (True, 50, 1)
    assert body["criteria"]["type"] == "and" and body["criteria"]["matches"] is False
    manual, status = why_answer(person, project, "vip", now=60)
    assert (status, manual["criteria"], manual["member"]) == (200, None, False)
    assert "API" in manual["note"]
    assert why_answer(person, project, "nope", now=60)[1] == 404
    assert why_answer(person, None, "c", now=60)[1] == 404


RICHER = {
    "type": "and",
    "conditions": [
        {
            "type": "event",
            "event": "visit",
            "check": "count",
            "operator": "gte",
            "value": 2,
            "between": ["10d", "3d"],
        },
        {"type": "event", "event": "visit", "check": "stopped", "between": ["10d", "3d"]},
        {"type": "event", "event": "visit", "check": "started_again", "gap": "2d", "within": "4d"},
        {
            "type": "event",
            "event": "visit",
            "check": "regularly",
            "value": 2,
            "of_last": 3,
            "period": "day",
        },
    ],
}


@settings(max_examples=200, deadline=None)
@given(times=st.lists(st.integers(0, 20 * DAY), max_size=12), later=st.integers(0, 10 * DAY))
def test_range_gap_and_period_leaves_show_what_decided_them(times, later):
    registry = CohortRegistry([_definition(RICHER)])
    project = registry.project(1)
    criteria = _definition(RICHER).criteria
    counter = None
    for n, at in enumerate(times):
        for spec in project.by_event["visit"]:
            counter = record(counter, at, f"uuid-{n}", project.needs[spec[0]], max(times))
    now = max(times, default=0) + later
    inputs = {
        "now": now,
        "properties": {},
        "counters": {} if counter is None else {spec_key(criteria.conditions[0]): counter},
        "memberships": {},
    }
    in_range, stopped, again, regular = explain(criteria, **inputs)["conditions"]
    assert in_range["matches"] == (in_range["count"] >= 2)
    assert all(
        in_range["range"]["after"] < o["at"] <= in_range["range"]["until"]
        for o in in_range["occurrences"]
    )
    assert stopped["matches"] == (stopped["count"] > 0 and stopped["since_range"] == 0)
    assert again["matches"] == bool(again["restarts"])
    assert regular["matches"] == (regular["periods_counted"] >= 2)
    assert all(p["starts"] >= regular["since"] for p in regular["periods"])
