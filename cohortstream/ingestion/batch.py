"""A batch of ingestion-topic messages to what must be published, grouped per partition."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import orjson

from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.outcomes import Rejected
from cohortstream.ingestion.route import route_message
from cohortstream.streams.records import EnrichedEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceMessage:
    """The parts of a Kafka record that ingestion reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int

    @property
    def source(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    rejected: Rejected
    key: bytes | None
    source: str


@dataclass(frozen=True, slots=True)
class Rekeyed:
    """Events re-published to the ingestion topic under the key that owns them."""

    key: bytes
    value: bytes
    timestamp_ms: int


@dataclass
class IngestOutput:
    """``enriched`` is keyed by partition: the next stage's partition p receives
    exactly the events whose key hashes to p (equal partition counts), in one
    message per batch."""

    enriched: dict[int, list[EnrichedEvent]] = field(default_factory=dict)
    rekeyed: list[Rekeyed] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def accepted_count(self) -> int:
        return sum(len(events) for events in self.enriched.values())


def ingest_messages(messages: list[SourceMessage], config: IngestConfig) -> IngestOutput:
    """Route every message; an unexpected error costs that message alone (dead-lettered)."""
    output = IngestOutput()
    for message in messages:
        try:
            routed = route_message(
                message.value,
                message.key,
                message.timestamp_ms if message.timestamp_ms > 0 else int(time.time() * 1000),
                config,
            )
        except Exception as exc:  # a bug, not bad input: keep the bytes and go on
            log.exception("ingest failed on %s", message.source)
            internal = Rejected("internal_error", f"{type(exc).__name__}: {exc}", message.value)
            output.dead_letters.append(DeadLetter(internal, message.key, message.source))
            continue
        if routed.accepted:
            output.enriched.setdefault(message.partition, []).extend(routed.accepted)
        for key, events in routed.misrouted.items():
            output.rekeyed.append(Rekeyed(key.encode(), orjson.dumps(events), message.timestamp_ms))
        for rejected in routed.rejected:
            output.dead_letters.append(DeadLetter(rejected, message.key, message.source))
    return output
