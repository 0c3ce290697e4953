"""The production wiring of the agents' outputs (tests replace ``current``)."""

from __future__ import annotations

from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.postgres import PostgresConnections
from cohortstream.streams.app import (
    assignments_topic,
    cohort_transitions_topic,
    dead_letter_topic,
    enriched_topic,
    events_topic,
    identity_commands_topic,
    person_changes_topic,
    person_commands_topic,
    settings,
)
from cohortstream.streams.publishers import TopicPublisher
from cohortstream.streams.wiring import Wiring

postgres = PostgresConnections(settings)

current = Wiring(
    settings=settings,
    enriched=TopicPublisher(enriched_topic),
    rekeyed=TopicPublisher(events_topic),
    dead_letters=TopicPublisher(dead_letter_topic),
    open_warehouse=lambda: open_warehouse(settings),
    open_definitions=postgres.definitions,
    load_project_ids=postgres.project_ids,
    load_identity_rules=postgres.identity_rules,
    close_postgres=postgres.close,
    identity_commands=TopicPublisher(identity_commands_topic),
    person_commands=TopicPublisher(person_commands_topic),
    person_changes=TopicPublisher(person_changes_topic),
    open_person_store=postgres.person_store,
    load_cohorts=postgres.cohort_definitions,
    cohort_transitions=TopicPublisher(cohort_transitions_topic),
    load_assignment_rules=postgres.assignment_rules,
    write_assignments=postgres.write_assignments,
    assigned_positions=postgres.assigned_positions,
    assignments=TopicPublisher(assignments_topic),
)
