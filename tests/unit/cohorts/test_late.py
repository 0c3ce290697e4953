"""Corrective transitions: where two histories of a cohort's criteria differ."""

from cohortstream.cohorts.definition import parse_definition
from cohortstream.cohorts.late import correctable, differences, history

NEVER = [(0, False)]
ALWAYS = [(0, True)]


def test_a_missed_stretch_is_an_entry_and_a_leave():
    assert differences(NEVER, [(0, False), (10, True), (40, False)], 100) == [
        ("entered", 10),
        ("left", 40),
    ]


def test_a_stretch_still_open_at_the_arrival_is_left_to_the_ordinary_transition():
    assert differences(NEVER, [(0, False), (10, True)], 100) == []


def test_a_membership_that_was_not_is_a_leave_and_an_entry():
    assert differences(ALWAYS, [(0, True), (10, False), (30, True)], 100) == [
        ("left", 10),
        ("entered", 30),
    ]


def test_opposite_stretches_back_to_back_share_their_transition():
    before = [(0, False), (20, True), (30, False)]
    after = [(0, False), (10, True), (20, False)]
    # after: member [10, 20); before: member [20, 30). Reality entered at 10 and left
    # at 20; the membership believed from 20 to 30 was not: it left at 20 (said
    # once) and its believed leave at 30 is matched by an entry there.
    assert differences(before, after, 100) == [("entered", 10), ("left", 20), ("entered", 30)]


def test_history_follows_the_evaluations_next_change():
    # holds on [5, 15) and from 25 on: the evaluation says when it can change next
    def evaluate_at(moment):
        if moment < 5:
            return False, 5
        if moment < 15:
            return True, 15
        if moment < 25:
            return False, 25
        return True, None

    assert history(evaluate_at, 0, 100) == [(0, False), (5, True), (15, False), (25, True)]
    assert history(evaluate_at, 0, 20) == [(0, False), (5, True), (15, False)]


def test_only_criteria_of_events_without_dwell_or_entry_rules_are_corrected():
    def cohort(criteria, **rules):
        return parse_definition(
            {"id": "c", "project_id": 1, "name": "c", "criteria": criteria, **rules}
        )

    event = {"type": "event", "event": "e", "within": "10m"}
    person = {"type": "person", "key": "plan", "operator": "eq", "value": "pro"}
    assert correctable(cohort({"type": "not", "condition": event}))
    assert not correctable(cohort({"type": "and", "conditions": [event, person]}))
    assert not correctable(cohort(event, min_dwell="1m"))
    assert not correctable(cohort(event, entry_limit="once"))
