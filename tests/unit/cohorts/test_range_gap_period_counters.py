"""Thinned range and gap lists and period lists answer what the full history would.

Occurrences arrive in any order (late ones, some stamped ahead of their
arrival, redelivered), some persons merge; at every moment from the last
arrival on, the conditions read from the bounded counters equal the same
conditions counted over every occurrence (the oracle's way).
"""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cohortstream.cohorts import periods as calendar
from cohortstream.cohorts.counters import (
    gap_points,
    merge_counters,
    needs_of,
    range_points,
    record,
    spec_key,
)
from cohortstream.cohorts.definition import DefinitionError, EventCondition, parse_definition
from cohortstream.cohorts.evaluate import evaluate
from cohortstream.cohorts.thinning import thin
from cohortstream.oracle.cohorts import change_moments, delays_of, event_holds, periods_of

DAY = 86_400


def condition(**fields):
    return EventCondition.model_validate({"type": "event", "event": "e", **fields})


def brute(c: EventCondition, times: list[tuple[int, str]], now: int) -> bool:
    return event_holds(c, sorted(times), now)


# Dense and sparse histories: thinning only drops points where they crowd.
arrivals = st.sampled_from([300, 3000]).flatmap(
    lambda span: st.lists(
        st.tuples(st.integers(0, span), st.integers(0, 200), st.booleans(), st.booleans()),
        max_size=50,
    )
)


def stream_counters(c, occurrences):
    """Two persons' counters fed in arrival order, merged at the end; the occurrences."""
    needs = needs_of(c)
    counters = [None, None]
    arrived = 0
    seen = []
    for index, (at, ahead, other, again) in enumerate(occurrences):
        arrived = max(arrived, at - ahead)
        person = int(other)
        for _ in range(2 if again else 1):  # redelivered: the same event again
            counters[person] = record(counters[person], at, f"u{index:03d}", needs, arrived)
        seen.append((at, f"u{index:03d}"))
    merged = merge_counters(counters[0], counters[1], needs, arrived)
    return merged, seen, arrived


def agree(c, occurrences, later):
    counter, seen, arrived = stream_counters(c, occurrences)
    counters = {} if counter is None else {spec_key(c): counter}

    def matches(now):
        return evaluate(c, now=now, properties={}, counters=counters, memberships={})

    # Every moment the full history's answer can change, and the second before.
    for moment in sorted(m for m in changes(c, seen) if arrived <= m <= arrived + later):
        for now in (moment - 1, moment):
            if now >= arrived:
                assert matches(now).matches == brute(c, seen, now), now
    # Nothing changes before next_change: check just before it, then jump there.
    now = arrived
    while now <= arrived + later:
        outcome = matches(now)
        assert outcome.matches == brute(c, seen, now), (now, outcome)
        if outcome.next_change is None:
            break
        assert outcome.next_change > now
        assert matches(outcome.next_change - 1).matches == outcome.matches
        now = outcome.next_change


def changes(c, seen):
    delays, periods = delays_of([c]), periods_of([c])
    return {m for at, _ in seen for m in change_moments(at, delays, periods)}


@settings(max_examples=500, deadline=None)
@given(
    occurrences=arrivals,
    end=st.integers(1, 200),
    width=st.integers(1, 300),
    check=st.sampled_from(["exists", "not_exists", "count", "stopped"]),
    threshold=st.integers(0, 4),
    operator=st.sampled_from(["gt", "gte", "eq", "lte", "lt"]),
)
def test_ranges_are_exact(occurrences, end, width, check, threshold, operator):
    start = end + width
    assume(start <= 100 * width)
    extra = {"operator": operator, "value": threshold} if check == "count" else {}
    c = condition(check=check, between=[f"{start}s", f"{end}s"], **extra)
    agree(c, occurrences, later=3000)


@settings(max_examples=300, deadline=None)
@given(occurrences=arrivals, gap=st.integers(1, 300), window=st.integers(1, 400))
def test_started_again_is_exact(occurrences, gap, window):
    assume(window <= 100 * gap)
    c = condition(check="started_again", gap=f"{gap}s", within=f"{window}s")
    agree(c, occurrences, later=3000)


@settings(max_examples=200, deadline=None)
@given(
    occurrences=st.lists(
        st.tuples(st.integers(0, 40 * DAY), st.integers(0, 3600), st.booleans(), st.booleans()),
        max_size=40,
    ),
    period=st.sampled_from(["hour", "day", "week"]),
    of_last=st.integers(1, 5),
    value=st.integers(1, 5),
)
def test_regularly_is_exact(occurrences, period, of_last, value):
    assume(value <= of_last)
    c = condition(check="regularly", value=value, of_last=of_last, period=period)
    agree(c, occurrences, later=20 * DAY)


def test_thinning_keeps_about_two_points_per_width_whatever_the_activity():
    every_minute = [[t * 60, f"u{t}"] for t in range(90 * 24 * 60)]  # 90 days of minutes
    kept = thin(every_minute, 60 * DAY, 1)
    assert len(kept) <= 4
    counted = thin(every_minute, 60 * DAY, 3)
    assert len(counted) <= 12


def test_a_range_list_is_bounded_by_its_widths_not_by_events():
    c = condition(between=["90d", "30d"])
    needs = needs_of(c)
    counter = None
    for minute in range(0, 200 * 24 * 60, 7):  # 200 days, an event every 7 minutes
        counter = record(counter, minute * 60, f"u{minute}", needs, minute * 60)
    assert len(range_points(counter, 90 * DAY, 30 * DAY)) <= 5
    gap = condition(check="started_again", gap="1d", within="7d")
    counter = None
    for minute in range(0, 200 * 24 * 60, 7):
        counter = record(counter, minute * 60, f"u{minute}", needs_of(gap), minute * 60)
    assert len(gap_points(counter, DAY)) <= 2 * 9 + 2


def test_weeks_start_on_monday_utc():
    monday = 1_763_942_400  # 2025-11-24 00:00 UTC, a Monday
    week = calendar.index_of(monday, 604_800)
    assert calendar.index_of(monday - 1, 604_800) == week - 1
    assert calendar.index_of(monday + 7 * DAY - 1, 604_800) == week
    assert calendar.start_of(week, 604_800) == monday


def test_a_restart_needs_an_earlier_occurrence_and_the_gap():
    c = condition(check="started_again", gap="1h", within="1d")
    needs = needs_of(c)
    counter = record(None, 1000, "a", needs, 1000)
    counters = {spec_key(c): counter}
    first = evaluate(c, now=1000, properties={}, counters=counters, memberships={})
    assert not first.matches  # the first time ever is not "again"
    counter = record(counter, 1000 + 3600, "b", needs, 1000 + 3600)
    again = evaluate(c, now=4600, properties={}, counters={spec_key(c): counter}, memberships={})
    assert again.matches and again.next_change == 4600 + DAY
    # A late occurrence inside the gap: it was not a restart after all.
    counter = record(counter, 2000, "late", needs, 4700)
    late = evaluate(c, now=4700, properties={}, counters={spec_key(c): counter}, memberships={})
    assert not late.matches


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"between": ["30d", "90d"]}, "earlier bound first"),
        ({"between": ["101d", "100d"]}, "1/100"),
        ({"between": ["90d", "30d"], "within": "7d"}, "not both"),
        ({"check": "stopped"}, "needs between"),
        ({"check": "started_again", "within": "1d"}, "needs gap and within"),
        ({"check": "started_again", "gap": "1m", "within": "7d"}, "at most 100 times"),
        ({"check": "regularly", "value": 3, "period": "day"}, "needs value"),
        ({"check": "regularly", "value": 5, "of_last": 4, "period": "day"}, "never match"),
        ({"check": "regularly", "value": 1, "of_last": 60, "period": "week"}, "reaches past"),
        ({"gap": "1d"}, "gap belongs"),
        (
            {"check": "count", "operator": "gte", "value": 200, "between": ["90d", "80d"]},
            "at most 110",
        ),
        ({"period": "day"}, "of_last and period"),
    ],
)
def test_invalid_new_conditions_say_why(fields, message):
    raw = {
        "id": "c",
        "project_id": 1,
        "name": "c",
        "criteria": {"type": "event", "event": "e", **fields},
    }
    with pytest.raises(DefinitionError) as error:
        parse_definition(raw)
    assert message in str(error.value)
