"""track_definitions: enriched batches to event/property definitions in PostgreSQL."""

from __future__ import annotations

from typing import Any

from cohortstream.agents import wiring
from cohortstream.agents.feed import feed_sink
from cohortstream.streams.app import app, enriched_topic


@app.agent(enriched_topic)
async def track_definitions(stream: Any) -> None:
    await feed_sink(stream, await wiring.current.definitions_sink())
