"""Messages between the identity stage (keyed by distinct_id) and the person stage
(keyed by person_id), and the rows both hand to the sinks.

Commands are plain dicts (they travel as JSON lists, one Kafka message per
destination partition and batch); ``op`` names what the receiver does.

Identity commands (topic ``identity_commands``, partitioned by distinct_id):
  link     {distinct_id, person_id, kind}   distinct_id belongs with person_id
  repoint  {distinct_id, person_id, version} the distinct_id's person is now person_id
  unlink   {distinct_id, version}            the distinct_id's person was deleted

Person commands (topic ``person_commands``, partitioned by person_id):
  event    one event of the person: property updates, identify, delete
  attach   {distinct_id, version}            add a distinct_id
  merge    {winner, kind}                     merge this person into winner's (checked here)
  union    {loser, winner, kind}              sent to the larger id of the pair: hands over
  absorb   {state, incoming_wins, kind}       a merged-away person's whole state
  delete   {}                                 erase the person (API)
  tick     {at}                               re-evaluate cohorts at a deadline (timers)
  backfill {uuid, timestamp_us, specs}        a historical occurrence for a new cohort
  activate {cohort_id, generation, at}        (to a partition, not a person) the backfill of
                                              that generation reached here: materialize it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cohortstream.tables.keys import identity_key, partition_for, person_key

Command = dict[str, Any]

# Merge kinds: identify and alias refuse identified sources; merge_dangerously does not.
IDENTIFY = "identify"
ALIAS = "alias"
MERGE_DANGEROUSLY = "merge_dangerously"


@dataclass
class Outbox:
    """What one step produced, by destination."""

    identity_commands: list[Command] = field(default_factory=list)
    person_commands: list[Command] = field(default_factory=list)
    # Rows for the persons sink: {"table": "persons"|"distinct_ids"|"overrides"|"warnings", ...}
    rows: list[dict[str, Any]] = field(default_factory=list)
    # Commands a step failed on (a bug, not bad input): dead-lettered, the rest goes on.
    failed: list[tuple[Command, str]] = field(default_factory=list)
    # Cohort transitions, for the cohort_transitions topic.
    transitions: list[dict[str, Any]] = field(default_factory=list)
    # (person key, when) for persons whose next cohort check moved.
    deadlines: list[tuple[str, int]] = field(default_factory=list)
    # Persons changed in memory only (property stamps, evaluation time): the agent
    # writes each of them to the table once per batch, before the batch is acked.
    touched: set[str] = field(default_factory=set)

    def extend(self, other: Outbox) -> None:
        self.identity_commands.extend(other.identity_commands)
        self.person_commands.extend(other.person_commands)
        self.rows.extend(other.rows)
        self.failed.extend(other.failed)
        self.transitions.extend(other.transitions)
        self.deadlines.extend(other.deadlines)
        self.touched |= other.touched

    def identity_batches(self, partitions: int) -> dict[int, list[Command]]:
        return _by_partition(
            self.identity_commands,
            lambda c: identity_key(c["project_id"], c["distinct_id"]),
            partitions,
        )

    def person_batches(self, partitions: int) -> dict[int, list[Command]]:
        return _by_partition(
            self.person_commands,
            lambda c: person_key(c["project_id"], c["person_id"]),
            partitions,
        )


def _by_partition(
    commands: list[Command], key_of: Any, partitions: int
) -> dict[int, list[Command]]:
    batches: dict[int, list[Command]] = {}
    for command in commands:
        batches.setdefault(partition_for(key_of(command), partitions), []).append(command)
    return batches
