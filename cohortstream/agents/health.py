"""The worker's own health: consumer progress, readiness, the heartbeat file, and
the state gauges Prometheus reads."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from cohortstream.agents import cohorts
from cohortstream.observability.consumer_state import partition_state
from cohortstream.observability.metrics import REGISTRY, WorkerCollector
from cohortstream.observability.progress import TP, Position, ProgressWatch, RebalanceWatch
from cohortstream.streams.app import app, settings
from cohortstream.streams.transport import committed_offsets
from cohortstream.tables.rocksdb_store import KeyPartitionedStore

log = logging.getLogger(__name__)

HEALTH_CHECK_S = 5.0
watch = ProgressWatch(settings.health_stall_s)
rebalance_watch = RebalanceWatch(settings.health_rebalance_stall_s)


def positions() -> dict[TP, Position]:
    """Committed and end offsets of the partitions this worker consumes for its group.

    Changelog partitions, read for recovery and standbys but never committed,
    have none and are left out.
    """
    consumer = app.consumer
    committed = committed_offsets(consumer)
    found = {}
    for tp in consumer.assignment():
        offset = committed.get(tp)
        if offset is None:
            continue
        try:
            end = consumer.highwater(tp)
        except Exception:
            end = None
        found[(tp.topic, tp.partition)] = Position(offset, end if end is not None else offset)
    return found


def ready() -> bool:
    """Tables recovered and no rebalance under way."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]  # TableManager has it
    return bool(recovery.completed.is_set() and not app.rebalancing and not app.in_recovery)


def stuck_joining() -> float | None:
    """Seconds the consumer has been joining its group, once past the limit."""
    now = time.monotonic()
    rebalance_watch.observe(now, bool(app.rebalancing and not app.in_recovery))
    return rebalance_watch.stuck_for(now)


def healthy() -> bool:
    """Live unless a partition with lag has stopped committing, or joining the group
    never ends; recovery counts as progress (readiness reports it)."""
    if stuck_joining() is not None:
        return False
    return app.in_recovery or app.rebalancing or not watch.stalled(time.monotonic())


_stalled_before = False
_joining_before = False


@app.timer(HEALTH_CHECK_S)
async def check_progress() -> None:
    global _stalled_before, _joining_before
    watch.observe(time.monotonic(), positions())
    stalls = watch.stalled(time.monotonic())
    if stalls and not app.in_recovery:
        log.error(
            "consumer stalled: %s",
            stalls,
            extra={"partitions": [f"{stall.topic}/{stall.partition}" for stall in stalls]},
        )
        if not _stalled_before:  # where each agent is stuck, once per stall
            log.error("agents at the stall:\n%s", app.agents.human_tracebacks())
            log.error(
                "consumer at the stall: %s",
                partition_state(app, {stall.topic for stall in stalls}),
            )
    _stalled_before = bool(stalls)
    joining_for = stuck_joining()
    if joining_for is not None and not _joining_before:  # once per episode
        log.error(
            "consumer still joining its group after %.0f s, /health now fails: %s",
            joining_for,
            partition_state(app, set()),
        )
    _joining_before = joining_for is not None
    if settings.heartbeat_file and healthy():
        await asyncio.to_thread(Path(settings.heartbeat_file).touch)


def snapshot() -> dict[str, Any]:
    tables = {}
    for name, table in app.tables.items():
        store = table.data
        if isinstance(store, KeyPartitionedStore):
            tables[name] = store.estimated_keys()
        elif app.conf.store.scheme == "memory":
            tables[name] = len(table)
    return {
        "lag": watch.lag(),
        "tables": tables,
        "timers_pending": len(cohorts.deadlines),
    }


REGISTRY.register(WorkerCollector(snapshot))
