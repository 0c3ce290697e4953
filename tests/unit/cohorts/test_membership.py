"""Entering, leaving, dwell limits and entry limits."""

from cohortstream.cohorts.definition import parse_definition
from cohortstream.cohorts.membership import Membership, step

HOUR = 3600


def definition(**extra):
    return parse_definition(
        {
            "id": "c",
            "project_id": 1,
            "name": "c",
            "criteria": {"type": "event", "event": "x"},
            **extra,
        }
    )


def test_enter_and_leave_with_idempotency_keys():
    d = definition()
    entered = step(d, "p", Membership(), True, 10, "event")
    assert [t["idempotency_key"] for t in entered.transitions] == ["cohort:c:p:entered:1"]
    left = step(d, "p", entered.membership, False, 20, "event")
    assert [(t["kind"], t["entry_count"], t["at"]) for t in left.transitions] == [("left", 1, 20)]
    assert step(d, "p", left.membership, False, 30, "event").transitions == []


def test_min_dwell_defers_a_leave_until_it_has_passed():
    d = definition(min_dwell="1h")
    inside = step(d, "p", Membership(), True, 0, "event").membership
    early = step(d, "p", inside, False, 600, "event")
    assert early.transitions == [] and early.membership.member and early.next_check == HOUR
    recovered = step(d, "p", early.membership, True, HOUR, "timer")
    assert recovered.transitions == []  # the criteria match again: no leave
    gone = step(d, "p", inside, False, HOUR, "timer")
    assert [t["kind"] for t in gone.transitions] == ["left"]


def test_max_dwell_expires_and_re_entry_needs_a_fresh_match():
    d = definition(max_dwell="1h")
    entered = step(d, "p", Membership(), True, 0, "event")
    assert entered.next_check == HOUR
    expired = step(d, "p", entered.membership, True, HOUR, "timer")
    assert [(t["kind"], t["source"]) for t in expired.transitions] == [("left", "timer")]
    assert step(d, "p", expired.membership, True, HOUR + 5, "event").transitions == []
    cleared = step(d, "p", expired.membership, False, HOUR + 6, "event").membership
    again = step(d, "p", cleared, True, HOUR + 7, "event")
    assert [(t["kind"], t["entry_count"]) for t in again.transitions] == [("entered", 2)]


def test_entry_limit_gates_announcements_not_membership():
    d = definition(entry_limit="once")
    state = Membership()
    kinds = []
    for at, matches in enumerate([True, False, True, False, True]):
        result = step(d, "p", state, matches, at, "event")
        state = result.membership
        kinds += [(t["kind"], t["entry_count"]) for t in result.transitions]
    assert kinds == [("entered", 1), ("left", 1)]
    assert state.member and state.entries == 3
    assert Membership.from_json(state.to_json()) == state
