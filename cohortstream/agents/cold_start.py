"""Cold start from an existing deployment: what PostgreSQL knows that the tables lack.

Looked up once per batch, for the keys the table has never seen, and only
there: a running stream answers from its tables alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cohortstream.agents import wiring
from cohortstream.retry import retry
from cohortstream.streams.wiring import STORE_START
from cohortstream.tables.keys import identity_key, person_key
from cohortstream.tables.person_state import PersonState


async def cold_distinct_ids(
    table: Mapping[str, Any], keys: list[tuple[int, str]]
) -> dict[str, tuple[str, int]]:
    """identity key -> (person_id, version) stored in PostgreSQL, for keys not in ``table``."""
    # Deduplicated before the lookups: a batch holds many events of one person.
    unseen = sorted(k for k in set(keys) if identity_key(*k) not in table)
    if not unseen or not wiring.current.settings.person_cold_start:
        return {}
    store = await wiring.current.person_store()
    # Waits out an outage: resolving without it could split an existing person in two.
    found = await retry(STORE_START, lambda: store.distinct_id_persons(unseen), "person lookup")
    return {identity_key(*k): v for k, v in found.items()}


async def cold_persons(
    table: Mapping[str, Any], keys: list[tuple[int, str]]
) -> dict[str, PersonState]:
    """person key -> stored person, for keys not in ``table``."""
    unseen = sorted(k for k in set(keys) if person_key(*k) not in table)
    if not unseen or not wiring.current.settings.person_cold_start:
        return {}
    store = await wiring.current.person_store()
    found = await retry(STORE_START, lambda: store.persons(unseen), "person lookup")
    return {person_key(*k): v for k, v in found.items()}
