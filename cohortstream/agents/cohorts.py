"""The cohort registry every agent reads, and the timers that fire persons' deadlines."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson

from cohortstream.agents import wiring
from cohortstream.cohorts.definition import DefinitionError
from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.observability.metrics import TIMER_LATENESS, TIMERS_FIRED
from cohortstream.streams.app import PERSON_COMMANDS_TOPIC, app, settings
from cohortstream.streams.publishers import publish_durably
from cohortstream.tables.deadlines import DeadlineQueue
from cohortstream.tables.faust_tables import activations, persons
from cohortstream.tables.keys import partition_for, partition_slot

log = logging.getLogger(__name__)

COHORTS_REFRESH_S = 5.0
TIMER_CHECK_S = 0.05  # a tick goes out within this of its deadline (a heap peek when idle)

registry = CohortRegistry()
# A cohort is evaluated on a person's partition once its backfill activated it there.
registry.activation = lambda key: (
    activations.get(partition_slot(partition_for(key, settings.topic_partitions))) or {}
)
deadlines = DeadlineQueue()
_assigned: set[int] | None = None  # person_commands partitions; None: rebuild the queue


async def refresh_cohorts() -> None:
    try:
        registry.replace(await wiring.current.load_cohorts())
    except DefinitionError as exc:  # stored definitions that no longer fit together
        log.error("cohort definitions rejected, keeping the last set: %s", exc)


@app.timer(COHORTS_REFRESH_S)
async def refresh_cohorts_periodically() -> None:
    """New and changed cohorts are evaluated within one interval."""
    try:
        await refresh_cohorts()
    except Exception as exc:
        log.warning("cohort refresh failed, keeping the last set: %s", exc)


REFRESH_ON_DEMAND_MIN_S = 1.0
_last_refresh_on_demand = 0.0


async def know_cohorts_of(commands: list[dict[str, Any]]) -> None:
    """Commands may name cohorts newer than the last periodic refresh: members added
    right after a manual cohort's creation, a new cohort's backfill and activation.
    Refresh rather than drop them: at most once a second for manual members (an
    SDK may send junk), and always, waiting out that second if need be, for the
    backfill's own commands (rare, and wrong without the cohort's needs)."""
    global _last_refresh_on_demand
    internal = any(not _knows(c) for c in commands if c["op"] in ("backfill", "activate"))
    manual = any(not _knows(c) for c in commands if c.get("manual"))
    if not internal and not manual:
        return
    wait = REFRESH_ON_DEMAND_MIN_S - (time.monotonic() - _last_refresh_on_demand)
    if wait > 0:
        if not internal:
            return
        await asyncio.sleep(wait)
    _last_refresh_on_demand = time.monotonic()
    try:
        await refresh_cohorts()
    except Exception as exc:
        log.warning("cohort refresh failed: %s", exc)


def _knows(command: dict[str, Any]) -> bool:
    project = registry.project(command["project_id"])
    if project is None:
        return False
    if command.get("manual"):
        return command["manual"]["cohort_id"] in project.manual
    generation = project.generation.get(command.get("cohort_id", ""))
    return generation is not None and command.get("generation", generation) == generation


def forget_assignment() -> None:
    """Partitions moved: the queue is rebuilt from the table before the next tick."""
    global _assigned
    _assigned = None


def _owned_partitions() -> set[int]:
    return {tp.partition for tp in app.consumer.assignment() if tp.topic == PERSON_COMMANDS_TOPIC}


@app.timer(TIMER_CHECK_S)
async def fire_due_deadlines() -> None:
    """Persons whose next check has come get a `tick` on their own partition, so it
    is applied in order with their other commands, by their owner."""
    global _assigned
    partitions = wiring.current.settings.topic_partitions
    if _assigned is None:
        _assigned = _owned_partitions()
        deadlines.replace_all(
            (key, state["next_check"])
            for key, state in list(persons.items())
            if state.get("next_check") is not None and partition_for(key, partitions) in _assigned
        )
    by_partition: dict[int, list[dict[str, object]]] = {}
    now = time.time()
    due = deadlines.pop_due(now)
    TIMERS_FIRED.inc(len(due))
    for key, at in due:
        TIMER_LATENESS.observe(max(0.0, now - at))
        project_id, person_id = key.split(":", 1)
        by_partition.setdefault(partition_for(key, partitions), []).append(
            {"op": "tick", "project_id": int(project_id), "person_id": person_id, "at": at}
        )
    for partition, commands in by_partition.items():
        await publish_durably(
            wiring.current.person_commands,
            None,
            orjson.dumps(commands),
            partition=partition,
            what="send timer ticks",
        )
