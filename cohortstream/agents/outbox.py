"""Handing a step's outbox on: commands to their stage's partitions, rows to the persons sink."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

from cohortstream.agents import wiring
from cohortstream.ingestion.outcomes import Rejected
from cohortstream.observability.metrics import PERSON_MERGES, count_transitions
from cohortstream.streams.dead_letters import send_dead_letter
from cohortstream.streams.publishers import Publisher, publish_durably
from cohortstream.tables.commands import Command, Outbox

log = logging.getLogger(__name__)
COMMAND_FAILED = "command_failed"
ROW_TOO_LARGE = "row_too_large"


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


# Under the producer's request limit (Faust's default 1,000,000 bytes) with room to
# spare: a hand-over carries a whole person, and a batch of them once made a 26 MB
# message the broker refused for good, stalling the partition (a merged group split).
MAX_MESSAGE_BYTES = 512 * 1024


def json_lists(items: list[Any], limit: int = MAX_MESSAGE_BYTES) -> Iterator[bytes]:
    """``items`` as JSON lists of at most ``limit`` bytes each (an item larger than
    that alone in its own list), in order."""
    whole = orjson.dumps(items)  # nearly always one message: one encode, no joins
    if len(whole) <= limit:
        if items:
            yield whole
        return
    parts: list[bytes] = []
    size = 2
    for item in items:
        encoded = orjson.dumps(item)
        if parts and size + len(encoded) + 1 > limit:
            yield b"[" + b",".join(parts) + b"]"
            parts, size = [], 2
        parts.append(encoded)
        size += len(encoded) + 1
    if parts:
        yield b"[" + b",".join(parts) + b"]"


def row_messages(
    rows: list[dict[str, Any]], limit: int = MAX_MESSAGE_BYTES
) -> tuple[list[bytes], list[Rejected]]:
    """The rows as messages for the persons sink, and those no message can hold.

    The producer refuses a record over ``limit`` for good, so one oversized row
    would stall the partition behind it. A persons row that is too large goes
    without its property stamps (a cold start then counts its values as set
    before any event); a row still too large is refused with its size, and the
    stores keep that row's previous version."""
    whole = orjson.dumps(rows)  # nearly always: one message
    if len(whole) <= limit:
        return ([whole] if rows else []), []
    kept, refused = [], []
    for row in rows:
        size = len(orjson.dumps(row))
        if size > limit - 2 and "set_at" in row:  # 2: the list's brackets
            row = {key: value for key, value in row.items() if key != "set_at"}
            size = len(orjson.dumps(row))
        if size <= limit - 2:
            kept.append(row)
            continue
        summary = {k: row.get(k) for k in ("table", "project_id", "id", "person_id")}
        detail = f"{row.get('table')} row of {size} bytes is over the {limit}-byte message limit"
        log.error("%s: not written to the stores (%s)", detail, summary)
        refused.append(Rejected(ROW_TOO_LARGE, detail, orjson.dumps({**summary, "bytes": size})))
    return list(json_lists(kept, limit)), refused


async def publish_outbox(outbox: Outbox) -> None:
    """A message per destination partition (more where one would be too large);
    returns once the producer has all of them."""
    outputs = wiring.current
    partitions = outputs.settings.topic_partitions
    await _publish_batches(
        outputs.identity_commands,
        outbox.identity_batches(partitions),
        "send identity commands",
    )
    await _publish_batches(
        outputs.person_commands, outbox.person_batches(partitions), "send person commands"
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
    messages, too_large = row_messages(outbox.rows)
    for rejected in too_large:
        await send_dead_letter(outputs.dead_letters, rejected, None, source="person_changes")
    for value in messages:
        await publish_durably(outputs.person_changes, None, value, what="send person rows")
    # Once per outbox, however many messages its rows took.
    PERSON_MERGES.inc(sum(1 for row in outbox.rows if row.get("table") == "overrides"))


async def _publish_batches(
    publisher: Publisher, batches: dict[int, list[Command]], what: str
) -> None:
    for partition, commands in batches.items():
        for value in json_lists(commands):
            await publish_durably(publisher, None, value, partition=partition, what=what)
