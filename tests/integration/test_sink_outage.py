"""ClickHouse dies during flushes: every event ends stored or dead-lettered, none lost."""

from __future__ import annotations

import asyncio
import os
import signal

import orjson
import pytest

from cohortstream.cli.producer import EventProducer
from cohortstream.localstack.components import start_chdb_host
from cohortstream.localstack.stack import CLICKHOUSE_DATABASE
from cohortstream.projects.registry import register_projects
from cohortstream.replay.dlq import replay_dead_letters
from cohortstream.settings import STACK_FILE_NAME, Settings, read_stack_file
from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.event_sink import SINK_FAILED
from cohortstream.streams.admin import ensure_topics
from cohortstream.streams.records import DLQ_REASON

from .conftest import Workers, wait_for_count
from .kafka_io import read_topic
from .test_pipeline import good_events, key_of

pytestmark = pytest.mark.integration

TOTAL = 20_000
PROJECT = 7
UUIDS_SQL = f"SELECT toString(uuid) AS uuid FROM events FINAL WHERE project_id = {PROJECT}"


def restart_chdb_host(settings: Settings, port: int) -> None:
    component = start_chdb_host(settings.state_dir, port, CLICKHOUSE_DATABASE)
    description = read_stack_file(settings.state_dir)
    description["components"]["chdb_host"] = component.as_json()
    (settings.state_dir / STACK_FILE_NAME).write_bytes(orjson.dumps(description))


async def test_clickhouse_killed_mid_stream_loses_nothing(own_stack, tmp_path):
    settings, ports = own_stack
    await register_projects(settings.database_url, {PROJECT: "outage"})
    events = good_events(PROJECT, TOTAL, seed=11)
    expected = {e["uuid"] for e in events if "uuid" in e}
    await ensure_topics(settings)
    workers = Workers(settings, tmp_path)
    workers.start()
    try:
        async with EventProducer(settings.kafka_broker, settings.events_topic) as producer:
            for event in events:
                await producer.send(orjson.dumps(event), key_of(event))
        warehouse = open_warehouse(settings)
        count_sql = f"SELECT count() AS n FROM events WHERE project_id = {PROJECT}"
        await wait_for_count(warehouse, count_sql, 1, timeout_s=180, workers=workers, poll_s=0.05)
        await warehouse.close()
        host_pid = read_stack_file(settings.state_dir)["components"]["chdb_host"]["pid"]
        os.kill(host_pid, signal.SIGKILL)

        # The sink retries (3 attempts), then dead-letters and goes on.
        async def dead_letters() -> list:
            return [
                r
                for r in await read_topic(settings, settings.dead_letter_topic)
                if dict(r.headers).get(DLQ_REASON) == SINK_FAILED.encode()
            ]

        for _ in range(120):
            if await dead_letters():
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("no dead letters while ClickHouse was down\n" + workers.logs())
        restart_chdb_host(settings, ports.chdb_host)

        warehouse = open_warehouse(settings)
        try:
            for _ in range(240):
                rows = await warehouse.query_rows(UUIDS_SQL)
                stored = {row["uuid"] for row in rows}
                lettered = {orjson.loads(r.value)["uuid"] for r in await dead_letters()}
                if len(stored | lettered) >= TOTAL:
                    break
                await asyncio.sleep(0.5)
        finally:
            await warehouse.close()
        assert len(stored | lettered) == TOTAL, workers.logs()
        assert expected <= stored | lettered
        assert lettered, "the outage dead-lettered nothing"
        assert stored, "nothing was stored"

        # Replaying the dead letters re-ingests them as the same events.
        report = await replay_dead_letters(settings)
        assert report.by_reason["clickhouse_insert_failed"] == len(await dead_letters())
        assert report.by_reason[SINK_FAILED] == report.replayed - report.by_reason.get(
            "person_sink_failed", 0
        )
        warehouse = open_warehouse(settings)
        try:
            await wait_for_count(
                warehouse,
                f"SELECT uniqExact(uuid) AS n FROM events WHERE project_id = {PROJECT}",
                TOTAL,
                timeout_s=120,
                workers=workers,
            )
            rows = await warehouse.query_rows(UUIDS_SQL)
        finally:
            await warehouse.close()
        assert {row["uuid"] for row in rows} == stored | lettered
        again = await replay_dead_letters(settings)  # progress was committed
        assert again.replayed == 0
    finally:
        workers.stop_all()
