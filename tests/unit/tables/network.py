"""The person protocol on a simulated network: partitions as FIFO queues, delivered
in a random order across partitions (as Kafka does), with random redelivery."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any

from cohortstream.cohorts.backfill import activate_command, backfill_commands, specs_of
from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.tables.commands import Outbox
from cohortstream.tables.identities import handle_identity_command, resolve_event
from cohortstream.tables.keys import identity_key, partition_for, partition_slot
from cohortstream.tables.person_state import is_live
from cohortstream.tables.persons import activate_partition, handle_person_command


class DurableTable(dict[str, Any]):
    """A table whose writes (not in-place changes) survive a crash, as far as the
    last commit: Faust keeps values in memory and sends each write to a changelog."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, Any] = {}
        self.committed: dict[str, Any] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.pending[key] = copy.deepcopy(value)

    def commit(self) -> None:
        self.committed.update(self.pending)
        self.pending.clear()

    def crash(self) -> None:
        """Back to what the last commit made durable."""
        self.clear()
        self.update(copy.deepcopy(self.committed))
        self.pending.clear()


@dataclass
class Network:
    partitions: int = 8
    redelivery: float = 0.0
    seed: int = 0
    # Chance per delivery that the whole system crashes: tables fall back to their
    # last commit, messages consumed since are delivered again, timers are rebuilt.
    crashes: float = 0.0
    identities: dict[str, list[Any]] = field(default_factory=DurableTable)
    persons: dict[str, Any] = field(default_factory=DurableTable)
    uncommitted: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    queues: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    delivered: int = 0
    cohorts: Any = None  # a CohortRegistry, to keep cohorts too
    transitions: list[dict[str, Any]] = field(default_factory=list)
    deadlines: dict[str, int] = field(default_factory=dict)
    rules: IdentityRules = field(default_factory=IdentityRules)

    # Partition activations of cohort generations; None: every cohort is active.
    activations: dict[str, dict[str, str]] | None = None
    enriched: list[dict[str, Any]] = field(default_factory=list)  # events with person ids

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        if self.activations is not None and self.cohorts is not None:
            activations = self.activations
            self.cohorts.activation = lambda key: activations.get(
                partition_slot(partition_for(key, self.partitions)), {}
            )

    def deliver(self, events: list[dict[str, Any]]) -> None:
        """Send every event, then run until nothing is left in flight."""
        for event in events:
            self.send_event(event)
        self.run()

    def send_event(self, event: dict[str, Any]) -> None:
        if self.rules.is_blocked(event["project_id"], event["distinct_id"]):
            return  # ingestion dead-letters it
        key = identity_key(event["project_id"], event["distinct_id"])
        self._queue("events", partition_for(key, self.partitions)).append(event)

    def _queue(self, stage: str, partition: int) -> list[dict[str, Any]]:
        return self.queues.setdefault((stage, partition), [])

    def _route(self, outbox: Outbox) -> None:
        for partition, commands in outbox.identity_batches(self.partitions).items():
            self._queue("identity", partition).extend(commands)
        for partition, commands in outbox.person_batches(self.partitions).items():
            self._queue("person", partition).extend(commands)
        self.rows.extend(outbox.rows)
        self.transitions.extend(outbox.transitions)
        self.deadlines.update(outbox.deadlines)
        for key in outbox.touched:  # what the agent writes at the end of its batch
            if key in self.persons:
                self.persons[key] = self.persons[key]

    def step(self) -> bool:
        ready = [name for name, queue in self.queues.items() if queue]
        if not ready:
            return False
        if self.crashes and self.random.random() < self.crashes:
            self.crash()
        elif self.crashes and self.random.random() < 0.1:
            self.commit()
        stage, partition = self.random.choice(ready)
        queue = self.queues[(stage, partition)]
        message = queue.pop(0)
        if self.crashes:
            self.uncommitted.setdefault((stage, partition), []).append(message)
        if self.random.random() < self.redelivery:
            queue.append(dict(message))  # delivered again later, as after a restart
        outbox = Outbox()
        if stage == "events":
            event = {**message, "warnings": []}
            resolve_event(self.identities, event, {}, outbox, self.cohorts, self.rules)
            self.enriched.append(event)
        elif stage == "identity":
            handle_identity_command(self.identities, message, {}, outbox)
        elif message["op"] == "activate":
            assert self.activations is not None and self.cohorts is not None
            keys = [k for k in self.persons if partition_for(k, self.partitions) == partition]
            activate_partition(
                self.persons, self.activations, partition, keys, message, self.cohorts, outbox
            )
        else:
            handle_person_command(self.persons, message, outbox, self.cohorts, self.rules)
        self._route(outbox)
        self.delivered += 1
        return True

    def commit(self) -> None:
        for table in (self.identities, self.persons):
            assert isinstance(table, DurableTable)
            table.commit()
        self.uncommitted.clear()

    def crash(self) -> None:
        for table in (self.identities, self.persons):
            assert isinstance(table, DurableTable)
            table.crash()
        for name, messages in self.uncommitted.items():
            self.queues[name] = [*messages, *self.queues.get(name, [])]
        self.uncommitted.clear()
        # The timer index is rebuilt from the recovered table, as after a restart.
        self.deadlines = {
            key: state["next_check"]
            for key, state in self.persons.items()
            if is_live(state) and state.get("next_check") is not None
        }

    def run(self, limit: int = 10_000_000) -> None:
        while self.step():
            if self.delivered > limit:
                raise AssertionError("the network did not quiesce")

    def advance_clock(self, now: int) -> None:
        """Fire every deadline up to ``now`` in time order, as the timer loop would:
        each moment's ticks are delivered before the next moment comes."""
        while True:
            due = [at for at in self.deadlines.values() if at <= now]
            if not due:
                return
            moment = min(due)
            for key in [k for k, at in self.deadlines.items() if at == moment]:
                del self.deadlines[key]
                project_id, person_id = key.split(":", 1)
                tick = {"op": "tick", "project_id": int(project_id), "person_id": person_id}
                self._queue("person", partition_for(key, self.partitions)).append(
                    {**tick, "at": moment}
                )
            self.run()

    def backfill(self, project_id: int, cohort_id: str, generation: str, at: int) -> None:
        """What the backfill job does for a new cohort generation: every enriched
        event so far as a ``backfill`` occurrence, then ``activate`` on every partition."""
        assert self.cohorts is not None
        [definition] = [
            d for d in self.cohorts.definitions() if (d.project_id, d.id) == (project_id, cohort_id)
        ]
        specs = specs_of(definition)
        outbox = Outbox()
        for event in self.enriched:
            outbox.person_commands.extend(
                backfill_commands(event, definition, generation, specs, at)
            )
        self._route(outbox)
        for partition in range(self.partitions):
            self._queue("person", partition).append(
                activate_command(project_id, cohort_id, generation, at)
            )
        self.run()

    def live_persons(self) -> list[dict[str, Any]]:
        return [state for state in self.persons.values() if is_live(state)]
