"""The Faust app and its topics. Agents register themselves in ``cohortstream.agents``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from cohortstream.settings import Settings
from cohortstream.streams import codec, transport  # noqa: F401 - registers both
from cohortstream.streams.records import MAX_MESSAGE_BYTES
from cohortstream.tables import person_cohorts
from cohortstream.tables import persons as person_rules

# Internal topics: JSON lists, one message per destination partition and batch.
ENRICHED_TOPIC = "events_enriched"  # EnrichedEvent, partitioned like the events topic
IDENTITY_COMMANDS_TOPIC = "identity_commands"  # partitioned by project:distinct_id
PERSON_COMMANDS_TOPIC = "person_commands"  # partitioned by project:person_id
PERSON_CHANGES_TOPIC = "person_changes"  # rows for the persons sink
COHORT_TRANSITIONS_TOPIC = "cohort_transitions"  # one record per transition, keyed by cohort
ASSIGNMENTS_TOPIC = "assignments"  # one record per assignment, keyed by its idempotency key

settings = Settings.load()
transport.fetch_max_wait_ms = settings.consumer_fetch_max_wait_ms
person_rules.merge_properties_by = settings.person_merge_properties
person_rules.properties_order = settings.person_properties_order
person_cohorts.late_corrections_within_s = settings.late_corrections_within_s


class CohortstreamApp(faust.App):  # type: ignore[misc]
    """Faust's app with one shutdown hook.

    On stop Faust halts its timers, then waits until every message an agent has
    taken is acked. The sinks ack only when they write, and their flush timer
    is gone by then, so without ``before_ack_wait`` (which writes them) that
    wait never ends and SIGTERM hangs until the shutdown bound.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.before_ack_wait: list[Callable[[], Awaitable[None]]] = []

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        # Faust's wait is never cancelled: Consumer._wait_for_ack swallows
        # CancelledError, so a wait_for around it that timed out waited for ever
        # (the shutdown overran its bound under load). The hooks run beside it.
        waiting = asyncio.ensure_future(super()._consumer_wait_empty(consumer, logger))
        try:
            while not waiting.done():
                for hook in self.before_ack_wait:
                    await hook()
                # messages taken after the hooks ran need them again
                await asyncio.wait({waiting}, timeout=1.0)
        finally:
            if not waiting.done():
                waiting.cancel()
        await waiting


app = CohortstreamApp(
    "cohortstream",
    broker=f"cohortstream://{settings.kafka_broker}",
    store=f"{settings.table_store}://",
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication_factor,
    web_port=settings.web_port,
    web="cohortstream://",  # cohortstream.web.server: `/` is the status page
    datadir=str(settings.worker_tables_dir),
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.consumer_session_timeout_s,
    broker_heartbeat_interval=settings.consumer_session_timeout_s / 4,
    broker_rebalance_timeout=settings.consumer_rebalance_timeout_s,
    table_standby_replicas=settings.table_standby_replicas,
    producer_max_request_size=MAX_MESSAGE_BYTES,
    consumer_max_fetch_size=MAX_MESSAGE_BYTES,
    autodiscover=False,
    # Faust's Cython stream iterator takes queued values without awaiting, and its
    # conductor decodes a message once for both events_enriched agents.
    cython_optimizations=True,
)

events_topic = app.topic(settings.events_topic, partitions=settings.topic_partitions, internal=True)
enriched_topic = app.topic(
    ENRICHED_TOPIC,
    partitions=settings.topic_partitions,
    internal=True,
    value_serializer="orjson",
)
dead_letter_topic = app.topic(
    settings.dead_letter_topic, partitions=settings.topic_partitions, internal=True
)


def _internal(name: str) -> faust.TopicT:
    return app.topic(
        name, partitions=settings.topic_partitions, internal=True, value_serializer="orjson"
    )


identity_commands_topic = _internal(IDENTITY_COMMANDS_TOPIC)
person_commands_topic = _internal(PERSON_COMMANDS_TOPIC)
person_changes_topic = _internal(PERSON_CHANGES_TOPIC)
cohort_transitions_topic = _internal(COHORT_TRANSITIONS_TOPIC)
assignments_topic = _internal(ASSIGNMENTS_TOPIC)
