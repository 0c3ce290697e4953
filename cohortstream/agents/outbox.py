"""Handing a step's outbox on: commands to their stage's partitions, rows to the persons sink."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from cohortstream.agents import wiring
from cohortstream.ingestion.outcomes import Rejected
from cohortstream.observability.metrics import PERSON_MERGES, count_transitions
from cohortstream.streams.dead_letters import send_dead_letter
from cohortstream.streams.publishers import publish_durably
from cohortstream.tables.commands import Command, Outbox

log = logging.getLogger(__name__)
COMMAND_FAILED = "command_failed"


def commands_in(events: Iterable[Any], outbox: Outbox) -> list[Command]:
    """The commands of a batch of internal-topic messages (each a JSON list of them)."""
    commands: list[Command] = []
    for event in events:
        value = event.value
        if isinstance(value, list) and all(isinstance(c, dict) and "op" in c for c in value):
            for command in value:
                if command["op"] == "activate":  # addressed to the partition itself
                    command["partition"] = event.message.partition
            commands.extend(value)
        else:
            outbox.failed.append(({"op": "malformed", "value": value}, "not a list of commands"))
    return commands


def apply_each(
    step: Callable[[Command, Outbox], None], commands: Iterable[Command], outbox: Outbox
) -> None:
    """Run ``step`` per command; one that raises is dead-lettered and costs nobody else."""
    for command in commands:
        partial = Outbox()
        try:
            step(command, partial)
        except Exception as exc:
            log.exception(
                "command failed: %.200r",
                command,
                extra={"project_id": command.get("project_id"), "op": command.get("op")},
            )
            outbox.failed.append((command, f"{type(exc).__name__}: {exc}"))
            continue
        outbox.extend(partial)


async def outputs_delivered() -> None:
    """Until the broker has every record the outbox publishers sent so far."""
    outputs = wiring.current
    for publisher in (
        outputs.identity_commands,
        outputs.person_commands,
        outputs.person_changes,
        outputs.cohort_transitions,
        outputs.dead_letters,
    ):
        await publisher.delivered()


async def publish_outbox(outbox: Outbox) -> None:
    """One message per destination partition; returns once the producer has all of them."""
    outputs = wiring.current
    partitions = outputs.settings.topic_partitions
    for partition, commands in outbox.identity_batches(partitions).items():
        await publish_durably(
            outputs.identity_commands,
            None,
            orjson.dumps(commands),
            partition=partition,
            what="send identity commands",
        )
    for partition, commands in outbox.person_batches(partitions).items():
        await publish_durably(
            outputs.person_commands,
            None,
            orjson.dumps(commands),
            partition=partition,
            what="send person commands",
        )
    for command, error in outbox.failed:
        rejected = Rejected(COMMAND_FAILED, error, orjson.dumps(command, default=repr))
        await send_dead_letter(
            outputs.dead_letters, rejected, None, source=f"command/{command.get('op')}"
        )
    for change in outbox.transitions:
        await publish_durably(
            outputs.cohort_transitions,
            f"{change['project_id']}:{change['cohort_id']}".encode(),
            orjson.dumps(change),
            what="send cohort transitions",
        )
    count_transitions(outbox.transitions)
    if outbox.rows:
        await publish_durably(
            outputs.person_changes, None, orjson.dumps(outbox.rows), what="send person rows"
        )
        PERSON_MERGES.inc(sum(1 for row in outbox.rows if row.get("table") == "overrides"))
