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

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer

from cohortstream.bench.cohorts import bench_cohorts
from cohortstream.bench.naive_table import INSERT_ROWS, NAIVE_TABLE
from cohortstream.cli.cohorts import wait_until_live
from cohortstream.cli.producer import EventProducer
from cohortstream.localstack.processes import free_port
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.warehouse import Warehouse, WarehouseError
from cohortstream.streams.admin import ensure_topics


@dataclass(frozen=True)
class Result:
    name: str
    messages: int
    events: int
    seconds: float
    peak_rss_mb: tuple[float, ...] = ()  # per worker process (VmHWM)
    cpu_s: tuple[float, ...] = ()  # per worker process, user + system, while timed
    workers: int = 1  # cohortstream workers of a pipeline run

    @property
    def cpu_us_per_event(self) -> float:
        """All its workers' CPU per event: what sizing a deployment needs, and what
        this VM's shared cores do not blur as they blur events/s."""
        return sum(self.cpu_s) / self.events * 1e6 if self.events and self.cpu_s else 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


Messages = list[tuple[bytes, bytes | None]]
REBALANCE_WAIT_S = 60.0


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
    workers: int = 1,
    timeout_s: float = 600.0,
) -> Result:
    """Warmed-up workers; timed from the first produce to the last row visible.

    A warm-up event is sent once every worker is ready and awaited in
    ClickHouse, and the project's cohorts must be live, so the consumer-group
    join, the sinks' start-up and the cohorts' backfills are outside the timing.
    """
    processes = [
        await start_worker(settings, log_dir / f"bench-worker-{project_id}-{n}.log")
        for n in range(workers)
    ]
    warehouse = open_warehouse(settings)
    try:
        await warm_up(settings, warehouse, [port for _, port in processes], project_id, timeout_s)
        await wait_cohorts_live(settings, project_id, timeout_s)
        cpu_before = [cpu_seconds(process.pid) for process, _ in processes]
        started = time.perf_counter()
        await produce(settings, settings.events_topic, messages)
        finished = await wait_for_rows(warehouse, project_id, events + 1, timeout_s)
        cpu = tuple(cpu_seconds(p.pid) - b for (p, _), b in zip(processes, cpu_before, strict=True))
        rss = tuple(peak_rss_mb(process.pid) for process, _ in processes)
        return Result(name, len(messages), events, finished - started, rss, cpu, workers)
    finally:
        await stop_workers(processes, settings.shutdown_timeout_s)
        await warehouse.close()


async def warm_up(
    settings: Settings, warehouse: Warehouse, ports: list[int], project_id: int, timeout_s: float
) -> None:
    """Every worker ready and one event of the project in ClickHouse: the
    consumer-group join and the sinks' start-up are then behind a measurement."""
    await wait_ready(ports, timeout_s)
    event = {"event": "bench_warm_up", "distinct_id": "bench", "project_id": project_id}
    key = f"{project_id}:bench".encode()
    await produce(settings, settings.events_topic, [(orjson.dumps(event), key)])
    await wait_for_rows(warehouse, project_id, 1, timeout_s)


async def wait_cohorts_live(settings: Settings, project_id: int, timeout_s: float) -> None:
    """A backfill replays the enriched topic and sends the person stage a command per
    past occurrence: one still running would be timed as the pipeline's work."""
    cohort_ids = [cohort["id"] for cohort in bench_cohorts(project_id)]
    if not await wait_until_live(settings.database_url, project_id, cohort_ids, timeout_s):
        raise RuntimeError(f"the bench cohorts of project {project_id} not live in {timeout_s} s")


async def start_worker(
    settings: Settings, log_path: Path, module: str = "cohortstream.cli.main", **env: str
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    environment = {
        **os.environ,
        "COHORTSTREAM_STATE_DIR": str(settings.state_dir),
        "WEB_PORT": str(port),
        "SINK_FLUSH_SECONDS": "1",
        **env,
    }
    arguments = ["worker"] if module == "cohortstream.cli.main" else []
    with log_path.open("wb") as log:  # the child keeps its own descriptor
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *arguments,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
        )
    return process, port


async def stop_workers(
    processes: list[tuple[asyncio.subprocess.Process, int]], shutdown_timeout_s: float
) -> None:
    """One at a time, each once the others have finished the rebalance the last
    leave started. After a 2-worker run whose workers left back to back, tansu
    once kept the group rebalancing for good: every later worker's join hung."""
    remaining = list(processes)
    while remaining:
        process, _ = remaining.pop()
        await stop_worker(process, shutdown_timeout_s)
        if remaining:
            with contextlib.suppress(RuntimeError):
                await wait_ready([port for _, port in remaining], REBALANCE_WAIT_S)


async def stop_worker(process: asyncio.subprocess.Process, shutdown_timeout_s: float) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:  # the worker bounds its own shutdown (SHUTDOWN_TIMEOUT_S)
        await asyncio.wait_for(process.wait(), timeout=shutdown_timeout_s + 10)
    except TimeoutError:  # a stuck shutdown must not cost the measurement
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def wait_ready(ports: list[int], timeout_s: float) -> None:
    """Every worker answers /ready twice in a row, a second apart (no rebalance pending)."""
    deadline = time.monotonic() + timeout_s
    in_a_row = 0
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            statuses = []
            for port in ports:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/ready") as response:
                        statuses.append(response.status)
                except aiohttp.ClientError:
                    statuses.append(0)
            in_a_row = in_a_row + 1 if all(status == 200 for status in statuses) else 0
            if in_a_row >= 2:
                return
            await asyncio.sleep(1.0)
    raise RuntimeError(f"workers on ports {ports} not ready in {timeout_s}s")


def cpu_seconds(pid: int) -> float:
    """The process's CPU time so far, user + system (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (Linux VmHWM), in MB."""
    return _status_mb(pid, "VmHWM:")


def current_rss_mb(pid: int) -> float:
    """The process's resident set now (Linux VmRSS), in MB."""
    return _status_mb(pid, "VmRSS:")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure_naive(
    settings: Settings, scenario: str, messages: Messages, events: int, log_dir: Path
) -> Result:
    """The textbook Faust agent (bench/naive.py) on its own topic: 1,000 warm-up
    events (one insert) first, then timed from the first produce to the last
    whole insert of 1,000 rows visible."""
    topic = f"bench_naive_{scenario}"
    await ensure_topics(settings, [topic])
    process, _ = await start_worker(
        settings,
        log_dir / f"bench-naive-{scenario}.log",
        module="cohortstream.bench.naive",
        BENCH_TOPIC=topic,
    )
    warehouse = open_warehouse(settings)
    counted = events // INSERT_ROWS * INSERT_ROWS
    try:
        # One table for every scenario's naive run: start each from empty.
        await warehouse.execute(f"TRUNCATE TABLE IF EXISTS {NAIVE_TABLE}")
        warm_up: Messages = [
            (orjson.dumps({"event": "warm_up", "distinct_id": f"w{n}", "project_id": 0}), None)
            for n in range(INSERT_ROWS)
        ]
        await produce(settings, topic, warm_up)
        await _wait_for_naive_rows(warehouse, INSERT_ROWS, 600.0)
        cpu_before = cpu_seconds(process.pid)
        started = time.perf_counter()
        await produce(settings, topic, messages)
        finished = await _wait_for_naive_rows(warehouse, INSERT_ROWS + counted, 1200.0)
        cpu = (cpu_seconds(process.pid) - cpu_before,)
        rss = (peak_rss_mb(process.pid),)
        name = f"naive Faust agent ({scenario})"
        return Result(name, len(messages), counted, finished - started, rss, cpu)
    finally:
        await stop_worker(process, settings.shutdown_timeout_s)
        await warehouse.close()


async def _wait_for_naive_rows(warehouse: Warehouse, rows: int, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            rows_now = await warehouse.query_rows(f"SELECT count() AS n FROM {NAIVE_TABLE}")  # noqa: S608
            found = int(rows_now[0]["n"])
        except WarehouseError:  # the agent creates its table when it starts
            found = 0
        if found >= rows:
            return time.perf_counter()
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{rows} naive rows not in ClickHouse in {timeout_s}s")


async def wait_for_rows(
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
