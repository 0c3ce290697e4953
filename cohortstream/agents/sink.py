"""sink_events: enriched batches to ClickHouse, offsets acked only after the insert."""

from __future__ import annotations

from typing import Any

from cohortstream.agents import wiring
from cohortstream.agents.feed import feed_sink
from cohortstream.streams.app import app, enriched_topic


@app.agent(enriched_topic)
async def sink_events(stream: Any) -> None:
    await feed_sink(stream, await wiring.current.event_sink())
