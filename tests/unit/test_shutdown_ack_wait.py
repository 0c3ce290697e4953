"""The shutdown's wait for acks writes the sinks while Faust waits, and never
cancels Faust's wait, which swallows cancellation (Consumer._wait_for_ack)."""

import asyncio

import faust
import pytest

from cohortstream.streams.app import CohortstreamApp


class _Unacked:
    """Messages a sink holds: acked only once the sink has written twice (a batch
    taken after the first write)."""

    def __init__(self) -> None:
        self.writes = 0
        self.cancels_swallowed = 0


@pytest.fixture
def unacked(monkeypatch):
    state = _Unacked()

    async def wait_empty_like_faust(self, consumer, logger):
        while state.writes < 2:
            try:  # Consumer._wait_for_ack: `except (TimeoutError, CancelledError): pass`
                await asyncio.sleep(0.3)
            except asyncio.CancelledError:
                state.cancels_swallowed += 1

    monkeypatch.setattr(faust.App, "_consumer_wait_empty", wait_empty_like_faust)
    return state


async def test_the_sinks_are_written_until_every_message_is_acked(unacked):
    app = CohortstreamApp("shutdown-ack-wait-test")

    async def write_sinks() -> None:
        unacked.writes += 1

    app.before_ack_wait.append(write_sinks)
    await asyncio.wait_for(app._consumer_wait_empty(consumer=None, logger=None), timeout=10)
    assert unacked.writes >= 2
    assert unacked.cancels_swallowed == 0  # cancelling it would have hung here
