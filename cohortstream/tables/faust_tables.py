"""The changelog-backed tables, as Faust sees them.

A key's changelog partition is the one Kafka's default (murmur2) partitioner
picks for it, which is the partition of the topic records with the same key
(identities: the events topic; persons: person_commands). So agents may write
keys of any partition they own from a batch that mixes partitions, timers may
write too, and recovery brings each key back on the worker that owns it.

The partition is computed here rather than by Faust's ``use_partitioner``:
that asks the producer, whose metadata may not yet hold the changelog topic
(a timer's first write failed on that), and its table routing then treats
every worker as owning every partition.
"""

from __future__ import annotations

from typing import Any

import faust

from cohortstream.streams.app import app, settings
from cohortstream.tables.keys import partition_for
from cohortstream.tables.rocksdb_store import KeyPartitionedStore

# Text keys (the producers' key bytes), JSON values.
_SCHEMA: faust.Schema = faust.Schema(key_serializer="text", value_serializer="orjson")


class _StoredByKeyPartition(faust.Table):  # type: ignore[misc]
    """RocksDB tables file keys by their own partition (see rocksdb_store)."""

    def _new_store_by_url(self, url: Any) -> Any:
        if str(url).startswith("rocksdb:"):
            return KeyPartitionedStore.for_table(self, url, settings)
        return super()._new_store_by_url(url)


class KeyPartitionedTable(_StoredByKeyPartition):
    def partition_for_key(self, key: Any) -> int:
        return partition_for(key, self.partitions or settings.topic_partitions)


class PartitionSlotTable(_StoredByKeyPartition):
    """One key per partition, ``partition:{n}``, kept in partition n of the changelog:
    state about a partition as a whole, recovered with that partition."""

    def partition_for_key(self, key: Any) -> int:
        return int(str(key).rsplit(":", 1)[1])


def _table(name: str, help: str, kind: type = KeyPartitionedTable) -> Any:
    table = kind(
        app,
        name=name,
        beacon=app.tables.beacon,
        partitions=settings.topic_partitions,
        schema=_SCHEMA,
        help=help,
    )
    return app.tables.add(table)


identities = _table("identities", "project:distinct_id -> [person_id, version]")
persons = _table("persons", "project:person_id -> PersonState")
activations = _table(
    "cohort_activations",
    "partition:{n} -> {project:cohort: generation} live on person partition n",
    PartitionSlotTable,
)
assignment_state = _table(
    "cohort_assignment_state",
    "project:cohort -> {n, last_offset, parked}: where the cohort's assignment rule stands",
)
