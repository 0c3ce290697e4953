"""The person protocol on a simulated network: partitions as FIFO queues, delivered
in a random order across partitions (as Kafka does), with random redelivery."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from cohortstream.cohorts.backfill import activate_command, backfill_commands, specs_of
from cohortstream.tables.commands import Outbox
from cohortstream.tables.identities import handle_identity_command, resolve_event
from cohortstream.tables.keys import identity_key, partition_for, partition_slot
from cohortstream.tables.person_state import is_live
from cohortstream.tables.persons import activate_partition, handle_person_command


@dataclass
class Network:
    partitions: int = 8
    redelivery: float = 0.0
    seed: int = 0
    identities: dict[str, list[Any]] = field(default_factory=dict)
    persons: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    queues: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    delivered: int = 0
    cohorts: Any = None  # a CohortRegistry, to keep cohorts too
    transitions: list[dict[str, Any]] = field(default_factory=list)
    deadlines: dict[str, int] = field(default_factory=dict)

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

    def send_event(self, event: dict[str, Any]) -> None:
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

    def step(self) -> bool:
        ready = [name for name, queue in self.queues.items() if queue]
        if not ready:
            return False
        stage, partition = self.random.choice(ready)
        queue = self.queues[(stage, partition)]
        message = queue.pop(0)
        if self.random.random() < self.redelivery:
            queue.append(dict(message))  # delivered again later, as after a restart
        outbox = Outbox()
        if stage == "events":
            event = {**message, "warnings": []}
            resolve_event(self.identities, event, {}, outbox, self.cohorts)
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
            handle_person_command(self.persons, message, outbox, self.cohorts)
        self._route(outbox)
        self.delivered += 1
        return True

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
