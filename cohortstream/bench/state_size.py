"""State per person: the bench workload through the tables' own logic, in process.

A worker keeps one orjson value per table key, in memory or RocksDB, and
writes each to its changelog. This runs the workload through the functions
the agents call (ingestion, ``resolve_event``, ``handle_identity_command``,
``handle_person_command`` with the bench's 20 cohorts) over tables of
encoded values, one command at a time in arrival order, and counts the bytes
those values take per person. No broker: it measures what a worker holds,
not how fast it gets there, so it reaches a million users where a run
through the stack could not.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import orjson

from cohortstream.bench.cohorts import bench_cohorts
from cohortstream.bench.workload import FIXED_NOW
from cohortstream.cohorts.definition import parse_definition
from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.demo.generator import DemoConfig, generate_payloads
from cohortstream.ingestion.batch import SourceMessage, ingest_messages
from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.keys import partition_key
from cohortstream.tables.batch_writes import BatchWrites
from cohortstream.tables.commands import Command, Outbox
from cohortstream.tables.encoded_table import EncodedTable
from cohortstream.tables.identities import handle_identity_command, resolve_event
from cohortstream.tables.person_state import is_live
from cohortstream.tables.persons import handle_person_command

STATE_PROJECT = 1


@dataclass
class StateSize:
    users: int
    events: int
    persons: int  # live
    person_keys: int  # live persons, merge tombstones and deleted persons
    identity_keys: int
    person_bytes: int  # all of it: live persons and merge tombstones
    tombstone_bytes: int  # a merged-away person keeps what it handed over (re-sendable)
    identity_bytes: int
    seconds: float

    @property
    def bytes_per_person(self) -> float:
        return (self.person_bytes + self.identity_bytes) / max(self.persons, 1)


def measure_state_size(users: int, seed: int) -> StateSize:
    started = time.perf_counter()
    registry = CohortRegistry(parse_definition(c) for c in bench_cohorts(STATE_PROJECT))
    identities, persons = EncodedTable(), EncodedTable()
    config = IngestConfig()
    demo = DemoConfig(users=users, seed=seed, malformed_share=0.0, project_id=STATE_PROJECT)
    events = 0
    for payload in generate_payloads(demo, now=FIXED_NOW):
        messages = deque([(partition_key(payload), orjson.dumps(payload))])
        while messages:  # events of another distinct_id come back re-keyed
            key, value = messages.popleft()
            output = ingest_messages([SourceMessage("events", 0, 0, key, value, 0)], config)
            messages.extend((r.key, r.value) for r in output.rekeyed)
            for batch in output.enriched.values():
                for event in batch:
                    events += 1
                    outbox = Outbox()
                    resolve_event(identities, dict(event), {}, outbox, registry)
                    _drain(outbox, identities, persons, registry)
    live = tombstone_bytes = 0
    for person_key, stored in persons.data.items():
        if is_live(orjson.loads(stored)):
            live += 1
        else:
            tombstone_bytes += len(person_key) + len(stored)
    return StateSize(
        users=users,
        events=events,
        persons=live,
        person_keys=len(persons),
        identity_keys=len(identities),
        person_bytes=persons.bytes(),
        tombstone_bytes=tombstone_bytes,
        identity_bytes=identities.bytes(),
        seconds=time.perf_counter() - started,
    )


def state_rows(sizes: list[StateSize]) -> list[dict[str, str]]:
    return [
        {
            "users": f"{s.users:,}",
            "events": f"{s.events:,}",
            "persons": f"{s.persons:,}",
            "keys (persons / ids)": f"{s.person_keys:,} / {s.identity_keys:,}",
            "bytes per person": f"{s.bytes_per_person:,.0f}",
            "of which merge tombstones": f"{s.tombstone_bytes / max(s.persons, 1):,.0f}",
            "total MB": f"{(s.person_bytes + s.identity_bytes) / 1e6:,.1f}",
            "seconds": f"{s.seconds:,.0f}",
            # CPU of the pipeline's own logic, no broker: steadier than a stack run
            "us per event": f"{s.seconds / max(s.events, 1) * 1e6:,.0f}",
        }
        for s in sizes
    ]


def _drain(
    first: Outbox, identities: EncodedTable, persons: EncodedTable, registry: CohortRegistry
) -> None:
    """Every command an event causes, in the order the stages would see them."""
    pending: deque[tuple[str, Command]] = deque()

    def queue(outbox: Outbox) -> None:
        pending.extend(("identity", c) for c in outbox.identity_commands)
        pending.extend(("person", c) for c in outbox.person_commands)

    queue(first)
    writes = BatchWrites(persons)  # as the person agent writes: once, after the outputs
    while pending:
        stage, command = pending.popleft()
        outbox = Outbox()
        if stage == "identity":
            handle_identity_command(identities, command, {}, outbox)
        else:
            handle_person_command(writes, command, outbox, registry)
            writes.keep(outbox.touched)
        queue(outbox)
    writes.flush()
