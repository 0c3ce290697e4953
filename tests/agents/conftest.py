"""Agents under Faust's in-memory test_context, wired to in-memory outputs."""

from types import SimpleNamespace

import pytest

from cohortstream import agents  # noqa: F401 - registers agents
from cohortstream.agents import wiring
from cohortstream.settings import Settings
from cohortstream.sinks.definitions_sink import MemoryInvalidator
from cohortstream.sinks.definitions_store import MemoryDefinitionsStore
from cohortstream.sinks.person_store import MemoryPersonStore
from cohortstream.sinks.warehouse import MemoryWarehouse
from cohortstream.streams.app import app
from cohortstream.streams.publishers import MemoryPublisher
from cohortstream.streams.wiring import Wiring
from cohortstream.tables.faust_tables import activations, assignment_state, identities, persons


@pytest.fixture()
def warehouse():
    return MemoryWarehouse()


@pytest.fixture()
def definitions_store():
    return MemoryDefinitionsStore()


@pytest.fixture()
def invalidator():
    return MemoryInvalidator()


@pytest.fixture()
def changelog(monkeypatch):
    """Table writes as (table, partition, key, value): the producer is not started under
    test_context, and Faust's partitioner needs it; ours picks the same partition."""
    written = []
    for table in (identities, persons, activations, assignment_state):

        def send(partition, key, value, *args, _table=table, **kwargs):
            partition = _table.partition_for_key(key)
            written.append((_table.name, partition, key, value))
            return SimpleNamespace(message=SimpleNamespace(partition=partition))

        monkeypatch.setattr(table, "send_changelog", send)
        table.data.clear()
    return written


@pytest.fixture()
def cohort_definitions():
    """Definitions the agents load (append parsed ones before the agents start)."""
    return []


@pytest.fixture()
def person_store():
    return MemoryPersonStore()


@pytest.fixture()
def outputs(
    warehouse,
    definitions_store,
    invalidator,
    person_store,
    cohort_definitions,
    changelog,
    monkeypatch,
    tmp_path,
):
    settings = Settings.load(
        {
            "COHORTSTREAM_STATE_DIR": str(tmp_path),
            "SINK_BATCH_ROWS": "3",
            "SINK_FLUSH_SECONDS": "60",
        }
    )

    async def open_definitions():
        async def close():
            return None

        return definitions_store, invalidator, close

    async def known_projects():
        return frozenset(range(1, 100))  # the agent tests use small ids; 0 stays unknown

    async def close_nothing():
        return None

    async def open_person_store():
        return person_store

    async def load_cohorts():
        return list(cohort_definitions)

    test_wiring = Wiring(
        settings=settings,
        enriched=MemoryPublisher(),
        rekeyed=MemoryPublisher(),
        dead_letters=MemoryPublisher(),
        open_warehouse=lambda: warehouse,
        open_definitions=open_definitions,
        load_project_ids=known_projects,
        close_postgres=close_nothing,
        identity_commands=MemoryPublisher(),
        person_commands=MemoryPublisher(),
        person_changes=MemoryPublisher(),
        open_person_store=open_person_store,
        load_cohorts=load_cohorts,
        cohort_transitions=MemoryPublisher(),
    )
    monkeypatch.setattr(wiring, "current", test_wiring)
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()
    return test_wiring
