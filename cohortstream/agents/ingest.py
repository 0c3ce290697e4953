"""ingest_events: capture payloads in; enriched batches (with persons), identity and
person commands, and dead letters out."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from cohortstream.agents import cohorts, wiring
from cohortstream.agents.cold_start import cold_distinct_ids
from cohortstream.agents.outbox import publish_outbox
from cohortstream.ingestion.batch import IngestOutput, SourceMessage, ingest_messages
from cohortstream.ingestion.config import IngestConfig
from cohortstream.observability.metrics import EVENTS
from cohortstream.retry import retry
from cohortstream.streams.app import app, events_topic, settings
from cohortstream.streams.dead_letters import send_dead_letter
from cohortstream.streams.publishers import publish_durably
from cohortstream.streams.records import EnrichedEvent
from cohortstream.streams.wiring import STORE_START
from cohortstream.tables.commands import Outbox
from cohortstream.tables.faust_tables import identities
from cohortstream.tables.identities import resolve_event

log = logging.getLogger(__name__)

config = IngestConfig.from_settings(settings)

# Short: this only bounds how long a lone message waits for company. Below the
# bench's load a batch always waits all of it, at each of the event's stages:
# 25 ms instead of 50 took the transition p99 at 769 events/s from 451-534 ms
# to 378-458 (bench/README.md), with no CPU per event the runs could tell apart.
INGEST_BATCH_WITHIN_S = 0.025
PROJECTS_REFRESH_S = 5.0


@app.agent(events_topic)
async def ingest_events(stream: Any) -> None:
    # Before the first message: an empty registry would dead-letter everything,
    # and events counted before their cohorts are known would be missed.
    await retry(STORE_START, refresh_projects, "load the project registry")
    await retry(STORE_START, cohorts.refresh_cohorts, "load the cohort definitions")
    # take_events acks its batch in a `finally`, even when this body raises, so
    # nothing below may raise: routing turns every failure into a dead letter
    # and publishing retries until the broker takes the records.
    async for events in stream.take_events(
        settings.ingest_batch_messages, within=INGEST_BATCH_WITHIN_S
    ):
        output = ingest_messages(
            [source_message(event) for event in events],
            config,
        )
        persons_outbox = await resolve_persons(output)
        await publish(output)
        await publish_outbox(persons_outbox)
        EVENTS.labels("accepted").inc(output.accepted_count)
        EVENTS.labels("dead_lettered").inc(len(output.dead_letters))


async def resolve_persons(output: IngestOutput) -> Outbox:
    """Every accepted event gets its person; identity changes become commands."""
    accepted = [event for events in output.enriched.values() for event in events]
    keys = [(event["project_id"], event["distinct_id"]) for event in accepted]
    cold = await cold_distinct_ids(identities, keys)
    outbox = Outbox()
    for event in accepted:
        try:
            resolve_event(
                identities, dict_of(event), cold, outbox, cohorts.registry, config.identity_rules
            )
        except Exception as exc:  # a bug: keep the event (with its default person) and go on
            log.exception(
                "person resolution failed for event %s",
                event["uuid"],
                extra={"project_id": event["project_id"], "distinct_id": event["distinct_id"]},
            )
            event["warnings"] = [
                *event["warnings"],
                {"code": "person_resolution_failed", "detail": f"{type(exc).__name__}: {exc}"},
            ]
    return outbox


def dict_of(event: EnrichedEvent) -> dict[str, Any]:
    return event  # type: ignore[return-value]  # a TypedDict is a dict at run time


async def refresh_projects() -> None:
    if config.projects is not None:
        config.projects.replace(await wiring.current.load_project_ids())
    if wiring.current.load_identity_rules is not None:
        rules = await wiring.current.load_identity_rules()
        config.identity_rules.replace(rules.blocked, rules.limits)


@app.timer(PROJECTS_REFRESH_S)
async def refresh_projects_periodically() -> None:
    """New projects are accepted within one interval; on failure the last set stays."""
    try:
        await refresh_projects()
    except Exception as exc:
        log.warning("project registry refresh failed, keeping the last one: %s", exc)


def source_message(event: Any) -> SourceMessage:
    message = event.message
    return SourceMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp_ms=int((message.timestamp or 0) * 1000),
    )


async def publish(output: IngestOutput) -> None:
    """Hand every record on; returns only once the producer has taken all of them."""
    outputs = wiring.current
    for partition, enriched in output.enriched.items():
        await publish_durably(
            outputs.enriched,
            None,
            orjson.dumps(enriched),
            partition=partition,
            what="publish enriched events",
        )
    for rekeyed in output.rekeyed:
        await publish_durably(
            outputs.rekeyed,
            rekeyed.key,
            rekeyed.value,
            timestamp_ms=rekeyed.timestamp_ms or None,
            what="re-key events",
        )
    for letter in output.dead_letters:
        await send_dead_letter(outputs.dead_letters, letter.rejected, letter.key, letter.source)
