"""update_persons: the person actor. Commands in, person state in a table, rows out."""

from __future__ import annotations

from functools import partial
from typing import Any

from cohortstream.agents import cohorts
from cohortstream.agents.cold_start import cold_persons
from cohortstream.agents.ingest import config as ingest_config
from cohortstream.agents.outbox import (
    apply_each,
    commands_in,
    outputs_delivered,
    publish_outbox,
)
from cohortstream.streams.app import app, person_commands_topic, settings
from cohortstream.tables.batch_writes import BatchWrites
from cohortstream.tables.commands import Command, Outbox
from cohortstream.tables.faust_tables import activations, persons
from cohortstream.tables.keys import partition_for
from cohortstream.tables.persons import activate_partition, handle_person_command

TAKE_MESSAGES = 100
TAKE_WITHIN_S = 0.025  # as short as ingestion's: see INGEST_BATCH_WITHIN_S


@app.agent(person_commands_topic)
async def update_persons(stream: Any) -> None:
    # take_events acks in a `finally`: nothing below raises (publishing retries).
    async for events in stream.take_events(TAKE_MESSAGES, within=TAKE_WITHIN_S):
        outbox = Outbox()
        commands = commands_in(events, outbox)
        wanted = [(c["project_id"], c["person_id"]) for c in commands if c["op"] == "event"]
        for key, stored in (await cold_persons(persons, wanted)).items():
            persons.setdefault(key, stored)
        await cohorts.know_cohorts_of(commands)
        # Outputs first, then state: a worker killed in between repeats the outputs
        # (same idempotency keys) instead of losing them (see tables.batch_writes).
        writes = BatchWrites(persons)
        apply_each(partial(_apply, writes), commands, outbox)
        writes.keep(outbox.touched)  # changed in place only: written with the batch
        for key, at in outbox.deadlines:
            cohorts.deadlines.set(key, at)
        await publish_outbox(outbox)
        # Outputs on the broker before state on the changelog: queued is not enough,
        # as the changelog's partition may be acknowledged first (tables.batch_writes).
        await outputs_delivered()
        writes.flush()


def _apply(table: BatchWrites, command: Command, outbox: Outbox) -> None:
    if command["op"] != "activate":
        # The identity rules the ingest agent refreshes: one project's limit for both stages.
        handle_person_command(
            table, command, outbox, cohorts.registry, ingest_config.identity_rules
        )
        return
    # Rare (a cohort's backfill finished): one pass over the partition's persons.
    partition = command["partition"]
    keys = [k for k in table if partition_for(k, settings.topic_partitions) == partition]
    activate_partition(table, activations, partition, keys, command, cohorts.registry, outbox)
