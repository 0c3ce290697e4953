"""sink_events: enriched batches to ClickHouse, offsets acked only after the insert."""

from __future__ import annotations

import functools
from typing import Any

import orjson

from cohortstream.agents import wiring
from cohortstream.streams.app import app, enriched_topic

SINK_TAKE_MESSAGES = 100
SINK_TAKE_WITHIN_S = 0.25
SINK_CHECK_INTERVAL_S = 0.5


@app.agent(enriched_topic)
async def sink_events(stream: Any) -> None:
    sink = await wiring.current.event_sink()
    # noack_take leaves acking to us: the sink acks each source message once
    # its rows are durably in ClickHouse (or dead-lettered).
    # Each message carries many events, so the row threshold is checked per message.
    async for events in stream.noack_take(SINK_TAKE_MESSAGES, within=SINK_TAKE_WITHIN_S):
        for event in events:
            sink.add(orjson.loads(event.value), ack=functools.partial(stream.ack, event))
            await sink.flush_if_due()


@app.timer(SINK_CHECK_INTERVAL_S)
async def flush_idle_sinks() -> None:
    """Write batches that reached their age while no new messages arrived."""
    for sink in wiring.current.started_sinks():
        await sink.flush_if_due()


# mode's stub types the receiver's return too narrowly for a coroutine function.
@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def flush_before_rebalance(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Write what is buffered before partitions move, so the new owner redelivers little."""
    for sink in wiring.current.started_sinks():
        await sink.flush()


@app.on_before_shutdown.connect  # type: ignore[arg-type]
async def close_sinks(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Flush and disconnect, so a clean stop leaves nothing for the next owner to redo."""
    await wiring.current.close()
