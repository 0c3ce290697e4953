"""The changelog-backed tables, as Faust sees them.

``use_partitioner``: a key's changelog partition is the one Kafka's default
partitioner picks for it, which is the partition of the topic records with
the same key (identities: the events topic; persons: person_commands). So
agents may write keys of any partition they own from a batch that mixes
partitions, and recovery brings each key back on the worker that owns it.
"""

from __future__ import annotations

import faust

from cohortstream.streams.app import app, settings

# Text keys (the producers' key bytes), JSON values.
_SCHEMA: faust.Schema = faust.Schema(key_serializer="text", value_serializer="orjson")

identities = app.Table(
    "identities",
    partitions=settings.topic_partitions,
    schema=_SCHEMA,
    use_partitioner=True,
    help="project:distinct_id -> [person_id, version]",
)

persons = app.Table(
    "persons",
    partitions=settings.topic_partitions,
    schema=_SCHEMA,
    use_partitioner=True,
    help="project:person_id -> PersonState",
)
