"""One raw message in, its events sorted into accepted, misrouted and rejected."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import orjson

from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.decode import decode_payload
from cohortstream.ingestion.enrich import enrich_event, event_uuid_of
from cohortstream.ingestion.outcomes import Rejected
from cohortstream.ingestion.validate import validate_event
from cohortstream.streams.records import EnrichedEvent


@dataclass
class RoutedMessage:
    """What one message of the ingestion topic turned into.

    ``misrouted`` maps the key an event should have had to the events to
    re-publish under it (each with its uuid fixed, so the re-keyed copy is
    the same event); such events are processed on their second pass, in the
    partition that owns their key.
    """

    accepted: list[EnrichedEvent] = field(default_factory=list)
    misrouted: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)


def route_message(
    raw: bytes, key: bytes | None, received_at_ms: int, config: IngestConfig
) -> RoutedMessage:
    """Decode, validate and enrich one message; never raises on bad input."""
    result = RoutedMessage()
    decoded = decode_payload(raw)
    if isinstance(decoded, Rejected):
        result.rejected.append(decoded)
        return result

    received_at = datetime.fromtimestamp(received_at_ms / 1000, tz=UTC)
    message_key = key.decode("utf-8", "replace") if key is not None else None
    single = len(decoded) == 1
    for index, candidate in enumerate(decoded):
        if isinstance(candidate, Rejected):
            result.rejected.append(candidate)
            continue
        outcome = validate_event(
            candidate, max_properties_bytes=config.max_properties_bytes, raw_size=len(raw)
        )
        if (
            not isinstance(outcome, Rejected)
            and config.projects is not None
            and not config.projects.knows(outcome.project_id)
        ):
            outcome = Rejected(
                "unknown_project", f"project {outcome.project_id} is not registered", b""
            )
        if not isinstance(outcome, Rejected) and config.identity_rules.is_blocked(
            outcome.project_id, outcome.distinct_id_text
        ):
            outcome = Rejected(
                "blocked_distinct_id",
                f"distinct_id {outcome.distinct_id_text!r} is blocked for project "
                f"{outcome.project_id}",
                b"",
            )
        if isinstance(outcome, Rejected):
            # A lone event is dead-lettered as the bytes that came; a batch element re-encoded.
            raw_bytes = raw if single else orjson.dumps(candidate)
            result.rejected.append(
                replace(outcome, raw=raw_bytes, batch_index=None if single else index)
            )
        elif outcome.partition_key != message_key:
            fixed = {**candidate, "uuid": event_uuid_of(outcome, candidate)}
            result.misrouted.setdefault(outcome.partition_key, []).append(fixed)
        else:
            result.accepted.append(enrich_event(outcome, candidate, received_at, config.geoip))
    return result
