"""Shapes of the values on cohortstream's topics.

Internal topics carry JSON (orjson) lists of these dicts: one Kafka message
per source partition and batch, which amortises Faust's per-message cost.
"""

from __future__ import annotations

from typing import Any, TypedDict

# Producer/consumer size limit: a batch payload may hold many events.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# Kafka headers of a dead-letter record; its value is the rejected bytes as they came.
DLQ_REASON = "cohortstream.reason"
DLQ_DETAIL = "cohortstream.detail"
DLQ_SOURCE = "cohortstream.source"  # "topic/partition/offset"
DLQ_BATCH_INDEX = "cohortstream.batch_index"


class EnrichedEvent(TypedDict):
    """One accepted event on ``events_enriched``, ready for the sinks."""

    uuid: str
    project_id: int
    event: str
    distinct_id: str
    person_id: str
    properties: dict[str, Any]
    timestamp_us: int  # event time, microseconds since the epoch (UTC)
    created_at_us: int  # receive time (Kafka timestamp), microseconds
    warnings: list[dict[str, str]]
