"""``cohortstream up`` / ``down``: the local stack under a state directory."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from cohortstream.localstack.components import (
    Component,
    require_local_extras,
    start_broker,
    start_chdb_host,
    start_postgres,
    start_redis,
    stop_component,
)
from cohortstream.localstack.processes import pid_alive, require_free_ports
from cohortstream.settings import STACK_FILE_NAME, Settings, read_stack_file

CLICKHOUSE_DATABASE = "cohortstream"
POSTGRES_DATABASE = "cohortstream"
DEFAULT_PROJECT_ID = 1


@dataclass(frozen=True)
class StackPorts:
    """Defaults stay clear of the usual 9092/5432/6379/8123 of servers a user may run."""

    kafka: int = 19092
    postgres: int = 15432
    redis: int = 16379
    chdb_host: int = 18123


def running_components(state_dir: Path) -> list[dict[str, Any]]:
    return list(read_stack_file(state_dir).get("components", {}).values())


def is_running(state_dir: Path) -> bool:
    components = running_components(state_dir)
    return bool(components) and all(pid_alive(int(c["pid"])) for c in components)


def up(state_dir: Path, ports: StackPorts, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Start every component (or find them running); returns the stack description."""
    state_dir.mkdir(parents=True, exist_ok=True)
    if is_running(state_dir):
        say(f"local stack already running (state in {state_dir})")
        return read_stack_file(state_dir)
    if running_components(state_dir):
        say("a previous stack died; stopping its leftovers")
        down(state_dir, say=lambda _: None)

    require_local_extras()
    require_free_ports(
        {
            "Kafka broker": ports.kafka,
            "PostgreSQL": ports.postgres,
            "Redis": ports.redis,
            "chdb host": ports.chdb_host,
        }
    )
    # tansu keeps topics in memory: a new broker has empty changelogs, and tables
    # kept on disk from the last one would claim offsets it never had.
    shutil.rmtree(state_dir / "tables", ignore_errors=True)
    started: list[Component] = []
    try:
        for name, start in (
            ("Kafka broker (tansu)", lambda: start_broker(state_dir, ports.kafka)),
            ("PostgreSQL", lambda: start_postgres(state_dir, ports.postgres, POSTGRES_DATABASE)),
            ("Redis", lambda: start_redis(state_dir, ports.redis)),
            ("chdb host", lambda: start_chdb_host(state_dir, ports.chdb_host, CLICKHOUSE_DATABASE)),
        ):
            say(f"starting {name} ...")
            started.append(start())
    except BaseException:
        for component in reversed(started):
            stop_component(component.as_json())
        raise

    by_name = {c.name: c for c in started}
    chdb_path = by_name["chdb_host"].extra["path"]
    description = {
        "components": {c.name: c.as_json() for c in started},
        "chdb_host": {"url": by_name["chdb_host"].url, "path": chdb_path},
        "settings": {
            "kafka_broker": by_name["broker"].url,
            "database_url": by_name["postgres"].url,
            "redis_url": by_name["redis"].url,
            "clickhouse_url": f"chdb://{chdb_path}",
            "clickhouse_database": CLICKHOUSE_DATABASE,
        },
    }
    (state_dir / STACK_FILE_NAME).write_bytes(orjson.dumps(description, option=orjson.OPT_INDENT_2))
    asyncio.run(_prepare(Settings.load_for(state_dir)))
    return description


async def _prepare(settings: Settings) -> None:
    """Topics for producers, tables for `sql`, and a default project, before any worker runs."""
    from cohortstream.projects.registry import register_projects
    from cohortstream.sinks.connect import open_warehouse
    from cohortstream.sinks.migrate import migrate
    from cohortstream.streams.admin import ensure_topics

    await ensure_topics(settings)
    await register_projects(settings.database_url, {DEFAULT_PROJECT_ID: "Default project"})
    await _stream_state_is_new(settings.database_url)
    warehouse = open_warehouse(settings)
    try:
        await migrate(warehouse)
    finally:
        await warehouse.close()


async def _stream_state_is_new(database_url: str) -> None:
    """The local broker keeps topics in memory: a new stack starts with no table
    state, so every cohort is materialized again before it is live."""
    import asyncpg

    from cohortstream.cohorts.store import BACKFILLING
    from cohortstream.sinks.migrate import migrate_postgres

    connection = await asyncpg.connect(database_url)
    try:
        await migrate_postgres(connection)
        await connection.execute(
            "UPDATE cohorts SET status = $1 WHERE definition->>'kind' IS DISTINCT FROM 'manual'",
            BACKFILLING,
        )
    finally:
        await connection.close()


def down(state_dir: Path, purge: bool = False, say: Callable[[str], None] = print) -> None:
    """Stop every component the stack file names; ``purge`` also deletes their data."""
    components = running_components(state_dir)
    if not components:
        say(f"no local stack recorded in {state_dir}")
    for component in reversed(components):
        say(f"stopping {component['name']} (pid {component['pid']})")
        stop_component(component)
    (state_dir / STACK_FILE_NAME).unlink(missing_ok=True)
    if purge and state_dir.exists():
        shutil.rmtree(state_dir)
        say(f"removed {state_dir}")


def describe(description: dict[str, Any]) -> str:
    """How to reach each component, for people."""
    settings = description["settings"]
    lines = [
        f"  Kafka broker   KAFKA_BROKER={settings['kafka_broker']}",
        f"  PostgreSQL     DATABASE_URL={settings['database_url']}",
        f"  Redis          REDIS_URL={settings['redis_url']}",
        f"  ClickHouse     CLICKHOUSE_URL={settings['clickhouse_url']}"
        f"  (served by {description['chdb_host']['url']})",
    ]
    return "\n".join(lines)
