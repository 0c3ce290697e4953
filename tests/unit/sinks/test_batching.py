import pytest

from cohortstream.retry import RetryPolicy
from cohortstream.sinks.batching import BatchingSink

NO_WAIT = RetryPolicy("test", attempts=3, base_delay_s=0.0, jitter=0.0)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make_sink(written, dead, clock, fail_times=0, max_items=3, max_age_s=5.0):
    failures = {"left": fail_times}

    async def write(items):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("warehouse down")
        written.append(list(items))

    async def dead_letter(items, error):
        dead.append((list(items), str(error)))

    return BatchingSink(
        "test",
        write,
        dead_letter,
        max_items=max_items,
        max_age_s=max_age_s,
        policy=NO_WAIT,
        clock=clock,
    )


def acker(log, name):
    async def ack():
        log.append(name)

    return ack


async def test_flushes_when_full_and_acks_after_the_write():
    written, dead, acks, clock = [], [], [], Clock()
    sink = make_sink(written, dead, clock)
    sink.add([1, 2], acker(acks, "m1"))
    await sink.flush_if_due()
    assert written == [] and acks == []
    sink.add([3], acker(acks, "m2"))
    await sink.flush_if_due()
    assert written == [[1, 2, 3]]
    assert acks == ["m1", "m2"]
    assert sink.pending == 0


async def test_flushes_when_old_enough():
    written, dead, acks, clock = [], [], [], Clock()
    sink = make_sink(written, dead, clock)
    sink.add([1], acker(acks, "m1"))
    clock.now = 4.9
    await sink.flush_if_due()
    assert written == []
    clock.now = 5.0
    await sink.flush_if_due()
    assert written == [[1]] and acks == ["m1"]


async def test_source_without_items_is_acked_at_the_next_check():
    written, dead, acks, clock = [], [], [], Clock()
    sink = make_sink(written, dead, clock)
    sink.add([], acker(acks, "empty"))
    await sink.flush_if_due()
    assert acks == ["empty"] and written == []


async def test_transient_failures_are_retried():
    written, dead, acks, clock = [], [], [], Clock()
    sink = make_sink(written, dead, clock, fail_times=2)
    sink.add([1, 2, 3], acker(acks, "m1"))
    await sink.flush()
    assert written == [[1, 2, 3]] and dead == [] and acks == ["m1"]


async def test_persistent_failure_dead_letters_the_batch_then_acks():
    written, dead, acks, clock = [], [], [], Clock()
    sink = make_sink(written, dead, clock, fail_times=99)
    sink.add([1, 2], acker(acks, "m1"))
    await sink.flush()
    assert written == []
    assert dead == [([1, 2], "warehouse down")]
    assert acks == ["m1"]
    assert sink.pending == 0
    assert sink.dead_lettered == 2


async def test_dead_letter_failure_leaves_sources_unacked():
    acks, clock = [], Clock()

    async def write(items):
        raise ConnectionError("warehouse down")

    async def dead_letter(items, error):
        raise ConnectionError("broker down too")

    sink = BatchingSink(
        "t", write, dead_letter, max_items=1, max_age_s=1, policy=NO_WAIT, clock=clock
    )
    sink.add([1], acker(acks, "m1"))
    with pytest.raises(ConnectionError):
        await sink.flush()
    assert acks == []  # redelivered after a restart: nothing lost
