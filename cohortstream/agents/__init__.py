"""Faust agents: thin loops that call pipeline steps and hand results on.

Importing this package registers every agent and timer on the app.
"""

from cohortstream.agents import (  # noqa: F401
    assignment,
    backfill,
    cohorts,
    definitions,
    health,
    identities,
    ingest,
    lifecycle,
    membership_history,
    person_sink,
    persons,
    sink,
)
