"""The measurements: raw consumer ceiling and the full pipeline, on the same broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer

from cohortstream.cli.producer import EventProducer
from cohortstream.localstack.processes import free_port
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.warehouse import Warehouse
from cohortstream.streams.admin import ensure_topics


@dataclass(frozen=True)
class Result:
    name: str
    messages: int
    events: int
    seconds: float

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


Messages = list[tuple[bytes, bytes | None]]


async def produce(settings: Settings, topic: str, messages: Messages) -> None:
    async with EventProducer(settings.kafka_broker, topic) as producer:
        await producer.send_many(messages)


async def measure_ceiling(settings: Settings, topic: str, messages: int, events: int) -> Result:
    """A raw aiokafka consumer reading the topic and decoding each value with orjson."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_broker,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        while seen < messages:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batch.values():
                for record in records:
                    orjson.loads(record.value)
                    seen += 1
        return Result("ceiling: raw aiokafka + orjson", seen, events, time.perf_counter() - started)
    finally:
        await consumer.stop()


async def measure_pipeline(
    settings: Settings,
    name: str,
    messages: Messages,
    events: int,
    project_id: int,
    log_dir: Path,
    timeout_s: float = 600.0,
) -> Result:
    """One warmed-up worker; timed from the first produce to the last row visible.

    A warm-up event is sent first and awaited in ClickHouse, so the
    consumer-group join and the sink's start-up are outside the timing.
    """
    env = {
        **os.environ,
        "COHORTSTREAM_STATE_DIR": str(settings.state_dir),
        "WEB_PORT": str(free_port()),
        "SINK_FLUSH_SECONDS": "1",
    }
    log = (log_dir / f"bench-worker-{project_id}.log").open("wb")
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cohortstream.cli.main",
        "worker",
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    warehouse = open_warehouse(settings)
    try:
        warm_up = {"event": "bench_warm_up", "distinct_id": "bench", "project_id": project_id}
        await produce(
            settings,
            settings.events_topic,
            [(orjson.dumps(warm_up), f"{project_id}:bench".encode())],
        )
        await _wait_for_rows(warehouse, project_id, 1, timeout_s)
        started = time.perf_counter()
        await produce(settings, settings.events_topic, messages)
        finished = await _wait_for_rows(warehouse, project_id, events + 1, timeout_s)
        return Result(name, len(messages), events, finished - started)
    finally:
        worker.terminate()
        try:  # the worker bounds its own shutdown (SHUTDOWN_TIMEOUT_S)
            await asyncio.wait_for(worker.wait(), timeout=settings.shutdown_timeout_s + 10)
        except TimeoutError:  # a stuck shutdown must not cost the measurement
            with contextlib.suppress(ProcessLookupError):
                worker.kill()
            await worker.wait()
        log.close()
        await warehouse.close()


async def _wait_for_rows(
    warehouse: Warehouse, project_id: int, rows: int, timeout_s: float
) -> float:
    sql = f"SELECT count() AS n FROM events WHERE project_id = {int(project_id)}"  # noqa: S608
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if int((await warehouse.query_rows(sql))[0]["n"]) >= rows:
            return time.perf_counter()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{rows} rows of project {project_id} not in ClickHouse in {timeout_s}s")


async def prepare(settings: Settings) -> None:
    await ensure_topics(settings)
