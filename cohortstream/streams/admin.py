"""Topic administration, for producers that may run before any worker."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from cohortstream.settings import Settings


async def ensure_topics(settings: Settings) -> None:
    """Create the ingestion and dead-letter topics with the configured partition count.

    Producing first would otherwise let the broker auto-create them with its
    own default, and every stage relies on equal partition counts.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_broker)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication_factor)
            for name in (settings.events_topic, settings.dead_letter_topic)
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process won the race
                await admin.create_topics(wanted)
    finally:
        await admin.close()
