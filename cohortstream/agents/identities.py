"""apply_identity_commands: links, re-points and unlinks of distinct_ids."""

from __future__ import annotations

import functools
from typing import Any

from cohortstream.agents.cold_start import cold_distinct_ids
from cohortstream.agents.outbox import apply_each, commands_in, publish_outbox
from cohortstream.streams.app import app, identity_commands_topic
from cohortstream.tables.commands import Command, Outbox
from cohortstream.tables.faust_tables import identities
from cohortstream.tables.identities import ColdMappings, handle_identity_command

TAKE_MESSAGES = 100
TAKE_WITHIN_S = 0.025  # as short as ingestion's: see INGEST_BATCH_WITHIN_S


def _handle(cold: ColdMappings, command: Command, outbox: Outbox) -> None:
    handle_identity_command(identities, command, cold, outbox)


@app.agent(identity_commands_topic)
async def apply_identity_commands(stream: Any) -> None:
    # take_events acks in a `finally`: nothing below raises (publishing retries).
    async for events in stream.take_events(TAKE_MESSAGES, within=TAKE_WITHIN_S):
        outbox = Outbox()
        commands = commands_in(events, outbox)
        links = [(c["project_id"], c["distinct_id"]) for c in commands if c["op"] == "link"]
        cold = await cold_distinct_ids(identities, links)
        apply_each(
            functools.partial(_handle, cold),
            commands,
            outbox,
        )
        await publish_outbox(outbox)
