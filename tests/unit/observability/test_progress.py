"""The liveness rule: a partition with lag whose committed offset stands still."""

from cohortstream.observability.progress import Position, ProgressWatch, RebalanceWatch, Stall

EVENTS_0 = ("events", 0)
EVENTS_1 = ("events", 1)


def test_a_partition_with_lag_that_stops_committing_is_stalled_after_the_limit():
    watch = ProgressWatch(stall_after_s=60)
    watch.observe(0, {EVENTS_0: Position(committed=100, end=150)})
    watch.observe(59, {EVENTS_0: Position(committed=100, end=180)})
    assert watch.stalled(59) == []
    watch.observe(60, {EVENTS_0: Position(committed=100, end=200)})
    assert watch.stalled(60) == [Stall("events", 0, lag=100, stuck_for_s=60)]
    watch.observe(61, {EVENTS_0: Position(committed=101, end=200)})  # moving again
    assert watch.stalled(61) == []


def test_an_idle_partition_is_never_stalled_and_a_moving_one_never_is():
    watch = ProgressWatch(stall_after_s=10)
    for second in range(0, 100, 5):
        watch.observe(
            second,
            {
                EVENTS_0: Position(committed=42, end=42),  # nothing to do
                EVENTS_1: Position(committed=second, end=second + 500),  # behind, moving
            },
        )
        assert watch.stalled(second) == []
    assert watch.lag() == {EVENTS_0: 0, EVENTS_1: 500}


def test_a_partition_that_moved_away_is_forgotten_and_one_back_starts_afresh():
    watch = ProgressWatch(stall_after_s=10)
    watch.observe(0, {EVENTS_0: Position(5, 9)})
    watch.observe(5, {})
    assert watch.lag() == {} and watch.stalled(20) == []
    watch.observe(20, {EVENTS_0: Position(5, 9)})
    assert watch.stalled(29) == []
    watch.observe(30, {EVENTS_0: Position(5, 9)})
    assert [s.partition for s in watch.stalled(30)] == [0]


def test_an_end_offset_behind_the_committed_one_is_no_lag():
    # tansu reports the last batch's base offset as the end offset.
    assert Position(committed=120, end=100).lag == 0


def test_a_group_join_that_never_ends_is_stuck_after_the_limit_and_recovery_is_not():
    watch = RebalanceWatch(stall_after_s=300)
    watch.observe(0, joining=True)
    watch.observe(299, joining=True)
    assert watch.stuck_for(299) is None
    assert watch.stuck_for(300) == 300
    watch.observe(301, joining=False)  # joined: recovering or running
    assert watch.stuck_for(900) is None
    watch.observe(1000, joining=True)  # a new rebalance starts its own clock
    assert watch.stuck_for(1299) is None and watch.stuck_for(1300) == 300
