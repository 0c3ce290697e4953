"""The real local stack (tansu, PostgreSQL, Redis, chdb host), once per session.

Each test gets its own project_id, so tests share the stack without seeing
each other's rows; workers are real `cohortstream worker` processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import aiohttp
import pytest

from cohortstream.localstack.processes import free_port
from cohortstream.localstack.stack import StackPorts, down, up
from cohortstream.projects.registry import register_projects
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse

REPO = Path(__file__).resolve().parents[2]
_project_ids = itertools.count(100)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    state_dir = tmp_path_factory.mktemp("stack")
    ports = StackPorts(
        kafka=free_port(), postgres=free_port(), redis=free_port(), chdb_host=free_port()
    )
    up(state_dir, ports, say=lambda _: None)
    try:
        yield Settings.load_for(state_dir)
    finally:
        down(state_dir, say=lambda _: None)


@pytest.fixture()
def own_stack(tmp_path):
    """A stack of its own, for tests that kill parts of it or need a clean history."""
    state_dir = tmp_path / "stack"
    ports = StackPorts(
        kafka=free_port(), postgres=free_port(), redis=free_port(), chdb_host=free_port()
    )
    up(state_dir, ports, say=lambda _: None)
    try:
        yield Settings.load_for(state_dir), ports
    finally:
        down(state_dir, say=lambda _: None)


@pytest.fixture()
def own_workers(own_stack, tmp_path):
    """Workers on RocksDB tables, on a stack of their own; stopped before the stack."""
    stack, _ = own_stack
    pool = Workers(stack, tmp_path, table_store="rocksdb")
    yield pool
    pool.stop_all()


@pytest.fixture()
async def own_warehouse(own_stack):
    opened = open_warehouse(own_stack[0])
    yield opened
    await opened.close()


@pytest.fixture()
async def project_id(stack):
    """A registered project of this test's own."""
    project = next(_project_ids)
    await register_projects(stack.database_url, {project: f"test {project}"})
    return project


def run_cli(settings: Settings, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`cohortstream ARGS` against the given stack, as a person would run it."""
    return subprocess.run(
        [sys.executable, "-m", "cohortstream.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        env={"COHORTSTREAM_STATE_DIR": str(settings.state_dir), "PATH": ""},
    )


def apply_cohort(settings: Settings, tmp_path: Path, definition: dict) -> None:
    """`cohortstream cohorts apply` of one definition, as a person would; it must succeed."""
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(definition))
    result = run_cli(settings, "cohorts", "apply", str(path))
    assert result.returncode == 0, result.stderr


class Workers:
    """Starts `cohortstream worker` processes and stops them after the test.

    ``table_store``: memory (quick to start) unless a test is about what a
    worker keeps on disk across restarts and rebalances (RocksDB, the default
    outside tests)."""

    def __init__(self, settings: Settings, log_dir: Path, table_store: str = "memory") -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.table_store = table_store
        self.processes: list[subprocess.Popen[bytes]] = []
        self.web_ports: list[int] = []
        self.created = time.time()

    def start(
        self, tables_of: int | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """A new worker; ``tables_of``: reuse that earlier worker's table directory
        (a restart on the same disk) instead of starting from the changelogs;
        ``env``: settings of its own."""
        self.web_ports.append(free_port())
        index = len(self.processes) if tables_of is None else tables_of
        env = {
            **os.environ,
            "COHORTSTREAM_STATE_DIR": str(self.settings.state_dir),
            "WEB_PORT": str(self.web_ports[-1]),
            "SINK_FLUSH_SECONDS": "1",
            "HEARTBEAT_FILE": str(self.heartbeat_file(len(self.processes))),
            "TABLE_STORE": self.table_store,
            "TABLE_DATA_DIR": str(self.log_dir / f"tables-{index}"),
            **(env or {}),
        }
        log = self.log_dir / f"worker-{len(self.processes)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "cohortstream.cli.main", "worker"],
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
        self.processes.append(process)
        return process

    def heartbeat_file(self, index: int) -> Path:
        return self.log_dir / f"worker-{index}.heartbeat"

    def terminate(self, process: subprocess.Popen[bytes], timeout_s: float) -> int:
        """SIGTERM; the exit status, or an error if it took longer than ``timeout_s``."""
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout_s)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        # One at a time, then until the group is empty: tansu's group coordinator
        # was seen to wedge for good (state Unknown, a dead member kept) when the
        # next test's worker joined while two members were leaving at once.
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        if self.processes:
            # Also called from async tests: run the wait on a loop of its own.
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, wait_for_empty_group(self.settings.kafka_broker)).result()

    def logs(self) -> str:
        """What a failing test shows: each worker's exit status, its timeline
        (start, assignments, readiness, warnings, errors) and its last lines,
        without Faust's offset tables (they crowded out the rest)."""
        started = time.strftime("%H:%M:%S", time.localtime(self.created))
        now = time.strftime("%H:%M:%S")
        parts = [f"test began {started}, failed {now}"]
        for index, path in enumerate(sorted(self.log_dir.glob("worker-*.log"))):
            lines = [
                line
                for line in path.read_text(errors="replace").splitlines()
                if line and line[0] not in "|+"
            ]
            status = self.processes[index].poll() if index < len(self.processes) else None
            timeline = [line for line in lines if _TIMELINE.search(line)][-60:]
            parts.append(
                f"--- {path.name} (exit status {status})\n"
                + "\n".join(timeline)
                + "\n... last lines:\n"
                + "\n".join(lines[-15:])
            )
        return "\n".join(parts)


_TIMELINE = re.compile(
    r"CohortstreamWorker\]: Starting|_on_partitions_assigned|generation id|Worker ready|\]: Ready|"
    r"Restoring state|Recovery complete|stall|WARN|ERROR|CRITICAL|Traceback|Error:|"
    r"CohortstreamWorker\]: Stopping|rebalanc",
    re.IGNORECASE,
)


async def wait_for_empty_group(
    broker: str, group: str = "cohortstream", timeout_s: float = 30
) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=broker)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            [response] = await admin.describe_consumer_groups([group])
            if not response.groups or not response.groups[0][5]:  # no members
                return
            await asyncio.sleep(0.5)
        # Not a failure of this test, but the likely cause of the next one's.
        warnings.warn(
            f"group {group} still has members after {timeout_s}s: {response.groups}",
            stacklevel=2,
        )
    finally:
        await admin.close()


@pytest.fixture()
def workers(stack, tmp_path):
    pool = Workers(stack, tmp_path)
    yield pool
    pool.stop_all()


@pytest.fixture()
async def warehouse(stack):
    opened = open_warehouse(stack)
    yield opened
    await opened.close()


async def wait_for_count(
    warehouse,
    sql: str,
    expected: int,
    timeout_s: float,
    workers: Workers | None = None,
    poll_s: float = 0.5,
) -> int:
    """Poll until ``sql`` (returning column n) reaches ``expected``; fail with worker logs."""
    deadline = time.monotonic() + timeout_s
    current = -1
    while time.monotonic() < deadline:
        current = int((await warehouse.query_rows(sql))[0]["n"])
        if current >= expected:
            return current
        await asyncio.sleep(poll_s)
    logs = workers.logs() if workers else ""
    state = await pipeline_state(workers) if workers else ""
    raise AssertionError(
        f"{sql!r}: {current} after {timeout_s}s, expected {expected}\n{state}\n{logs}"
    )


STATE_METRICS = ("cohortstream_events_total", "cohortstream_sink_", "cohortstream_dead")


async def pipeline_state(workers: Workers) -> str:
    """Where events stand when a count falls short: each live worker's event and
    sink counters, and the group's committed offsets against what each topic holds
    (a stuck offset, or one past rows that never landed, says which hop lost them)."""
    lines = ["--- pipeline state"]
    async with aiohttp.ClientSession() as session:
        for port, process in zip(workers.web_ports, workers.processes, strict=True):
            if process.poll() is not None:
                continue
            try:
                async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                    text = await response.text()
            except (aiohttp.ClientError, OSError) as exc:
                lines.append(f"worker :{port}: /metrics failed: {exc}")
                continue
            lines += [
                f"worker :{port}: {line}"
                for line in text.splitlines()
                if line.startswith(STATE_METRICS)
                and not line.endswith(" 0.0")
                and "_bucket" not in line
            ]
    try:
        for topic in ("events", "events_enriched", "identity_commands", "person_commands"):
            offsets = await group_offsets(workers.settings, topic)
            pairs = " ".join(f"{p}:{c}/{end}" for p, (c, end) in offsets.items())
            lines.append(f"{topic} committed/end: {pairs}")
    except Exception as exc:  # a diagnostic: never hide the failure it explains
        lines.append(f"offsets unavailable: {exc!r}")
    return "\n".join(lines)


async def group_offsets(settings: Settings, topic: str) -> dict[int, tuple[int | None, int]]:
    """Per partition of ``topic``: the workers' group's committed offset (None: none
    yet) and the end offset."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_broker, group_id="cohortstream", enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        ends = await consumer.end_offsets(partitions)
        return {tp.partition: (await consumer.committed(tp), ends[tp]) for tp in partitions}
    finally:
        await consumer.stop()


async def wait_for_ok(url: str, workers: Workers | None = None, timeout_s: float = 120) -> None:
    """Poll ``url`` until it answers 200 (a worker up, or ready); fail with worker logs."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"{url} not 200 in {timeout_s}s\n{workers.logs() if workers else ''}")


async def until_all_consume(workers: Workers, indexes: list[int], timeout_s: float = 120) -> None:
    """The workers at ``indexes`` between them hold every events partition, each some."""
    deadline = time.monotonic() + timeout_s
    held: list[list[int]] = []
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            held = []
            for index in indexes:
                url = f"http://127.0.0.1:{workers.web_ports[index]}/partitions"
                try:
                    async with session.get(url) as response:
                        held.append((await response.json())["assigned"].get("events", []))
                except (aiohttp.ClientError, KeyError):
                    held.append([])
            if all(held) and sorted(p for h in held for p in h) == list(range(8)):
                return
            await asyncio.sleep(0.5)
    raise AssertionError(f"partitions held: {held}\n{workers.logs()}")
