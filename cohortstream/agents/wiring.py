"""The production wiring of the agents' outputs (tests replace ``current``)."""

from __future__ import annotations

from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.postgres import open_definitions
from cohortstream.streams.app import dead_letter_topic, enriched_topic, events_topic, settings
from cohortstream.streams.publishers import TopicPublisher
from cohortstream.streams.wiring import Wiring

current = Wiring(
    settings=settings,
    enriched=TopicPublisher(enriched_topic),
    rekeyed=TopicPublisher(events_topic),
    dead_letters=TopicPublisher(dead_letter_topic),
    open_warehouse=lambda: open_warehouse(settings),
    open_definitions=lambda: open_definitions(settings),
)
