"""Agents under Faust's in-memory test_context, wired to in-memory outputs."""

import pytest

from cohortstream import agents  # noqa: F401 - registers agents
from cohortstream.agents import wiring
from cohortstream.settings import Settings
from cohortstream.sinks.definitions_sink import MemoryInvalidator
from cohortstream.sinks.definitions_store import MemoryDefinitionsStore
from cohortstream.sinks.warehouse import MemoryWarehouse
from cohortstream.streams.app import app
from cohortstream.streams.publishers import MemoryPublisher
from cohortstream.streams.wiring import Wiring


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
def outputs(warehouse, definitions_store, invalidator, monkeypatch, tmp_path):
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

    test_wiring = Wiring(
        settings=settings,
        enriched=MemoryPublisher(),
        rekeyed=MemoryPublisher(),
        dead_letters=MemoryPublisher(),
        open_warehouse=lambda: warehouse,
        open_definitions=open_definitions,
        load_project_ids=known_projects,
        close_postgres=close_nothing,
    )
    monkeypatch.setattr(wiring, "current", test_wiring)
    app.finalize()
    app.conf.store = "memory://"
    app.flow_control.resume()
    return test_wiring
