"""sink_persons: person-stage rows to ClickHouse and PostgreSQL, acked after the write."""

from __future__ import annotations

from typing import Any

from cohortstream.agents import wiring
from cohortstream.agents.feed import feed_sink
from cohortstream.streams.app import app, person_changes_topic


@app.agent(person_changes_topic)
async def sink_persons(stream: Any) -> None:
    await feed_sink(stream, await wiring.current.person_sink())
