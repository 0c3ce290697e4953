from types import SimpleNamespace

from faust.types import TP

from cohortstream.observability.consumer_state import partition_state

STUCK = TP("events", 1)
OTHER = TP("persons", 0)


def _app(**consumer_overrides):
    message = SimpleNamespace(tp=STUCK)
    fields = dict(
        flow_active=True,
        assignment=lambda: {STUCK, OTHER},
        unacked=[message],
        _read_offset={STUCK: 1061},
        _committed_offset={STUCK: 444},
        _acked={STUCK: [446, 447, 448]},
        _gap={},
        _active_partitions={STUCK},
        _buffered_partitions=set(),
        _paused_partitions=set(),
        highwater=lambda tp: 1062,
    )
    consumer = SimpleNamespace(**{**fields, **consumer_overrides})
    return SimpleNamespace(
        consumer=consumer,
        flow_control=SimpleNamespace(is_active=lambda: True),
        rebalancing=False,
        in_recovery=False,
        consumer_generation_id=3,
        topics=SimpleNamespace(_topics=[]),
    )


def test_a_stuck_partition_shows_where_it_stands():
    state = partition_state(_app(), {"events"})
    assert list(state["partitions"]) == ["events/1"]  # only the topics asked for
    stuck = state["partitions"]["events/1"]
    assert stuck["read"] == 1061
    assert stuck["committed"] == 444
    assert stuck["acked"] == 3
    assert stuck["unacked"] == 1
    assert stuck["highwater"] == 1062
    assert stuck["active"] is True and stuck["paused"] is False
    assert state["generation"] == 3


def test_what_cannot_be_read_is_reported_not_raised():
    def broken(tp):
        raise RuntimeError("no highwater yet")

    state = partition_state(_app(highwater=broken), {"events"})
    assert state["partitions"]["events/1"]["highwater"] == "<RuntimeError: no highwater yet>"
    # No aiokafka consumer behind this stand-in: those fields are left out, not raised.
    assert "kafka_position" not in state["partitions"]["events/1"]
