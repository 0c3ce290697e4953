"""Flushing every started sink: on a timer, before a rebalance, at shutdown."""

from __future__ import annotations

from typing import Any

from cohortstream.agents import cohorts, wiring
from cohortstream.streams.app import app

SINK_CHECK_INTERVAL_S = 0.5


@app.timer(SINK_CHECK_INTERVAL_S)
async def flush_idle_sinks() -> None:
    """Write batches that reached their age while no new messages arrived."""
    for sink in wiring.current.started_sinks():
        await sink.flush_if_due()


# mode's stub types the receiver's return too narrowly for a coroutine function.
@app.on_partitions_revoked.connect  # type: ignore[arg-type]
async def flush_before_rebalance(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Write what is buffered before partitions move, so the new owner redelivers little."""
    cohorts.forget_assignment()
    for sink in wiring.current.started_sinks():
        await sink.flush()


@app.on_partitions_assigned.connect  # type: ignore[arg-type]
async def rebuild_deadlines(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Deadlines of persons this worker now owns come back from its table."""
    cohorts.forget_assignment()


async def flush_all_sinks() -> None:
    for sink in wiring.current.started_sinks():
        await sink.flush()


app.before_ack_wait.append(flush_all_sinks)  # see CohortstreamApp


@app.on_before_shutdown.connect  # type: ignore[arg-type]
async def close_sinks(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
    """Flush and disconnect, so a clean stop leaves nothing for the next owner to redo."""
    await wiring.current.close()
