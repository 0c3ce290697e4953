"""`cohortstream up` and friends against the running session stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cohortstream.localstack.stack import StackPorts, is_running, up
from cohortstream.settings import read_stack_file

from .conftest import REPO

pytestmark = pytest.mark.integration


def cli(stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cohortstream.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={"COHORTSTREAM_STATE_DIR": str(stack.state_dir), "PATH": ""},
    )


def test_every_component_runs_and_settings_point_at_them(stack):
    assert is_running(stack.state_dir)
    described = read_stack_file(stack.state_dir)
    assert set(described["components"]) == {"broker", "postgres", "redis", "chdb_host"}
    assert stack.kafka_broker == described["settings"]["kafka_broker"]
    assert stack.clickhouse_url.startswith("chdb://")


def test_up_again_finds_the_running_stack(stack):
    before = read_stack_file(stack.state_dir)
    said = []
    after = up(stack.state_dir, StackPorts(), say=said.append)
    assert after == before
    assert said == [f"local stack already running (state in {stack.state_dir})"]


def test_status_prints_how_to_reach_each_component(stack):
    result = cli(stack, "status")
    assert result.returncode == 0, result.stderr
    for name in ("KAFKA_BROKER", "DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL"):
        assert name in result.stdout


async def test_postgres_and_redis_answer(stack):
    import asyncpg
    import redis.asyncio as redis

    connection = await asyncpg.connect(stack.database_url)
    try:
        assert await connection.fetchval("SELECT current_database()") == "cohortstream"
    finally:
        await connection.close()
    client = redis.from_url(stack.redis_url)
    try:
        assert await client.ping()
    finally:
        await client.aclose()


def test_sql_errors_are_reported_not_raised(stack):
    result = cli(stack, "sql", "SELECT * FROM no_such_table")
    assert result.returncode == 1
    assert "no_such_table" in result.stderr
    assert "Traceback" not in result.stderr


def test_send_counts_rejects_and_they_reach_the_pipeline(stack, tmp_path):
    lines = tmp_path / "events.jsonl"
    lines.write_text(
        '{"event": "a", "distinct_id": "d", "project_id": 999}\nnot json\n'
        '{"event": "b", "project_id": 999}\n\n'
    )
    result = cli(stack, "send", str(lines))
    assert result.returncode == 0, result.stderr
    assert "sent 3 messages" in result.stdout
    assert "2 event(s) will be rejected" in result.stdout
    assert "invalid_json: 1" in result.stdout
    assert "missing_distinct_id: 1" in result.stdout
