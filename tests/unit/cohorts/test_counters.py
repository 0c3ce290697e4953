"""Bounded counters answer exactly what the full history would, for every threshold."""

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortstream.cohorts.counters import (
    Needs,
    count_within,
    merge_counters,
    next_entry,
    next_exit,
    record,
    total,
    window_state,
)


def brute_count(times, now, window):
    return sum(1 for t in times if now - window < t <= now)


@settings(max_examples=300, deadline=None)
@given(
    times=st.lists(st.integers(0, 1000), max_size=60),
    ahead=st.lists(st.integers(0, 300), max_size=60),
    threshold=st.integers(0, 6),
    window=st.integers(1, 400),
    later=st.integers(0, 800),
)
def test_count_within_is_exact_up_to_the_threshold_in_any_arrival_order(
    times, ahead, threshold, window, later
):
    needs = Needs(latest=threshold + 1)
    counter = None
    arrived = 0
    for index, at in enumerate(times):  # arrival order is arbitrary: late events included
        # Some occurrences are stamped ahead of their arrival (a client clock ahead).
        arrived = max(arrived, at - (ahead[index] if index < len(ahead) else 0))
        counter = record(counter, at, f"e{index}", needs, arrived)
        counter = record(counter, at, f"e{index}", needs, arrived)  # redelivered: counted once
    for now in (arrived, arrived + later):
        kept = count_within(counter, now, window)
        true = brute_count(times, now, window)
        # Every operator against the threshold gets the same answer.
        assert min(kept, threshold + 1) == min(true, threshold + 1)
    past = [t for t, _ in (counter["ts"] if counter else []) if t <= arrived]
    assert len(past) <= threshold + 1


@settings(max_examples=200, deadline=None)
@given(a=st.lists(st.integers(0, 500), max_size=20), b=st.lists(st.integers(0, 500), max_size=20))
def test_merging_counters_equals_counting_both_histories(a, b):
    needs = Needs(latest=3, total_cap=4)
    ca = cb = None
    events = [(t, f"a{i}") for i, t in enumerate(a)] + [(t, f"b{i}") for i, t in enumerate(b)]
    for t, uuid in events[: len(a)]:
        ca = record(ca, t, uuid, needs, 500)
    for t, uuid in events[len(a) :]:
        cb = record(cb, t, uuid, needs, 500)
    merged = merge_counters(ca, cb, needs, 500)
    latest = max((t for t, _ in events), default=0)
    for now in (latest, latest + 50, latest + 150):  # no occurrence in the future
        true = sum(1 for t, _ in events if now - 100 < t <= now)
        assert min(count_within(merged, now, 100), 3) == min(true, 3)
    assert total(merged) == min(4, len(events))


def test_next_exit_is_when_the_oldest_occurrence_in_the_window_leaves():
    counter = None
    for at in (100, 150, 170):
        counter = record(counter, at, str(at), Needs(latest=3), 170)
    assert next_exit(counter, now=180, window=60) == 150 + 60
    assert count_within(counter, now=210, window=60) == 1  # (150, 210] holds 170 only
    assert next_exit(counter, now=300, window=60) is None


@settings(max_examples=300, deadline=None)
@given(
    times=st.lists(st.integers(0, 1000), max_size=30),
    now=st.integers(0, 1200),
    window=st.integers(1, 400),
)
def test_window_state_is_the_count_and_the_earlier_of_exit_and_entry(times, now, window):
    counter = None
    for index, at in enumerate(times):
        counter = record(counter, at, f"e{index}", Needs(latest=len(times)), 0)
    moments = [
        m for m in (next_exit(counter, now, window), next_entry(counter, now)) if m is not None
    ]
    expected = (count_within(counter, now, window), min(moments) if moments else None)
    assert window_state(counter, now, window) == expected


def test_a_cohort_needing_more_history_gets_it_from_the_same_events_again():
    small, larger = Needs(latest=2, total_cap=1), Needs(latest=2, total_cap=3)
    counter = None
    for n in range(3):
        counter = record(counter, 100 + n, f"e{n}", small, 200)
    assert total(counter) == 1  # all the first cohort needed
    for n in range(3):  # the backfill of a cohort counting to 3 replays them
        counter = record(counter, 100 + n, f"e{n}", larger, 200)
    assert total(counter) == 3
    assert record(counter, 102, "e2", larger, 200) is counter  # nothing new: unchanged
