"""update_persons: the person actor. Commands in, person state in a table, rows out."""

from __future__ import annotations

from typing import Any

from cohortstream.agents import cohorts
from cohortstream.agents.cold_start import cold_persons
from cohortstream.agents.outbox import apply_each, commands_in, publish_outbox
from cohortstream.streams.app import app, person_commands_topic
from cohortstream.tables.commands import Outbox
from cohortstream.tables.faust_tables import persons
from cohortstream.tables.persons import handle_person_command

TAKE_MESSAGES = 100
TAKE_WITHIN_S = 0.05


@app.agent(person_commands_topic)
async def update_persons(stream: Any) -> None:
    # take_events acks in a `finally`: nothing below raises (publishing retries).
    async for events in stream.take_events(TAKE_MESSAGES, within=TAKE_WITHIN_S):
        outbox = Outbox()
        commands = commands_in(events, outbox)
        wanted = [(c["project_id"], c["person_id"]) for c in commands if c["op"] == "event"]
        for key, stored in (await cold_persons(persons, wanted)).items():
            persons.setdefault(key, stored)
        await cohorts.know_manual_cohorts(commands)
        apply_each(
            lambda command, out: handle_person_command(persons, command, out, cohorts.registry),
            commands,
            outbox,
        )
        for key, at in outbox.deadlines:
            cohorts.deadlines.set(key, at)
        await publish_outbox(outbox)
