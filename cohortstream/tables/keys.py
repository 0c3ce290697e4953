"""Table keys and the partitions they live in.

Keys are the text the producers send, and partitions follow Kafka's default
(murmur2) partitioner, so a key written to a table with ``use_partitioner``
lands in the partition of the topic record carrying the same key.
"""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


def identity_key(project_id: int, distinct_id: str) -> str:
    """The ingestion partitioning: one distinct_id of one project."""
    return f"{project_id}:{distinct_id}"


def person_key(project_id: int, person_id: str) -> str:
    return f"{project_id}:{person_id}"


@lru_cache(maxsize=1 << 17)  # murmur2 is pure Python; a person's key recurs with its events
def partition_for(key: str, partitions: int) -> int:
    """What aiokafka's DefaultPartitioner picks for this key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def partition_slot(partition: int) -> str:
    """The key of state about a whole partition (see PartitionSlotTable)."""
    return f"partition:{partition}"
