"""Feeding a stream of batches (lists) into a BatchingSink, acking after durability."""

from __future__ import annotations

import functools
from typing import Any

from cohortstream.sinks.batching import BatchingSink

SINK_TAKE_MESSAGES = 100
SINK_TAKE_WITHIN_S = 0.25


async def feed_sink(stream: Any, sink: BatchingSink[Any]) -> None:
    """noack_take leaves acking to the sink: each source message is acked once its
    events are durably written (or dead-lettered). A message carries many events,
    so the sink's threshold is checked after each message, not each take."""
    async for events in stream.noack_take(SINK_TAKE_MESSAGES, within=SINK_TAKE_WITHIN_S):
        for event in events:
            # The topic's orjson codec has decoded the value once for every agent.
            sink.add(event.value, ack=functools.partial(stream.ack, event))
            await sink.flush_if_due()
