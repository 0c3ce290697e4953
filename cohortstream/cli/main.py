"""``cohortstream``: run the local stack, workers, and talk to them."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson

from cohortstream.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.load()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def cli() -> None:
    """cohortstream: realtime events, persons and cohorts on Kafka, ClickHouse and PostgreSQL."""


@cli.command()
@click.option("--kafka-port", default=19092, show_default=True)
@click.option("--postgres-port", default=15432, show_default=True)
@click.option("--redis-port", default=16379, show_default=True)
@click.option("--chdb-port", default=18123, show_default=True)
def up(kafka_port: int, postgres_port: int, redis_port: int, chdb_port: int) -> None:
    """Start the embedded local stack under the state directory."""
    from cohortstream.localstack.processes import StackError
    from cohortstream.localstack.stack import StackPorts, describe
    from cohortstream.localstack.stack import up as stack_up

    settings = _settings()
    try:
        description = stack_up(
            settings.state_dir, StackPorts(kafka_port, postgres_port, redis_port, chdb_port)
        )
    except StackError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"local stack running (state in {settings.state_dir}):")
    click.echo(describe(description))
    click.echo("Every cohortstream command finds it from there; `cohortstream down` stops it.")


@cli.command()
@click.option("--purge", is_flag=True, help="Also delete the stack's data.")
def down(purge: bool) -> None:
    """Stop the embedded local stack."""
    from cohortstream.localstack.stack import down as stack_down

    stack_down(_settings().state_dir, purge=purge, say=click.echo)


@cli.command()
def status() -> None:
    """Say whether the local stack runs, and where its parts listen."""
    from cohortstream.localstack.stack import describe, is_running
    from cohortstream.settings import read_stack_file

    settings = _settings()
    if not is_running(settings.state_dir):
        raise click.ClickException(f"no local stack running (state dir {settings.state_dir})")
    click.echo(describe(read_stack_file(settings.state_dir)))


@cli.command()
@click.option("--loglevel", default=None, help="Default: LOG_LEVEL setting.")
def worker(loglevel: str | None) -> None:
    """Run one stream worker in the foreground (web views on WEB_PORT, default 6066)."""
    from cohortstream.cli.worker import run_worker

    _settings()
    sys.argv = [sys.argv[0]]  # Faust's worker reads argv; keep our options out of it
    run_worker(loglevel or _settings().log_level)


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def send(file: Path) -> None:
    """Produce capture payloads from a JSON-lines FILE (one event or batch per line)."""
    from cohortstream.cli.send import send_file

    asyncio.run(send_file(_settings(), file))


@cli.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Rows as JSON lines.")
def sql(query: str, as_json: bool) -> None:
    """Run QUERY on the configured ClickHouse and print the result."""
    from cohortstream.cli.tables import render_table
    from cohortstream.sinks.connect import open_warehouse
    from cohortstream.sinks.warehouse import WarehouseError

    async def run() -> list[dict[str, object]]:
        warehouse = open_warehouse(_settings())
        try:
            return await warehouse.query_rows(query)
        finally:
            await warehouse.close()

    try:
        rows = asyncio.run(run())
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        for row in rows:
            click.echo(orjson.dumps(row).decode())
    else:
        click.echo(render_table(rows))


@cli.command()
@click.option("--users", default=2000, show_default=True, help="Simulated users.")
@click.option("--seed", default=7, show_default=True)
@click.option("--keep", is_flag=True, help="Leave the stack (and its data) running afterwards.")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait for rows.")
def demo(users: int, seed: int, keep: bool, timeout: float) -> None:
    """Start what is missing, stream realistic traffic through a worker, show what landed."""
    from cohortstream.cli.demo import run_demo

    run_demo(_settings(), users=users, seed=seed, keep=keep, timeout_s=timeout)


@cli.command("bridge-redis")
@click.option("--stream", default="events:incoming", show_default=True)
@click.option("--group", default="cohortstream-bridge", show_default=True)
@click.option("--consumer", default=None, help="Consumer name (default: <host>-bridge).")
def bridge_redis(stream: str, group: str, consumer: str | None) -> None:
    """Bridge capture payloads XADDed to a Redis stream (field 'data') into the events topic."""
    from cohortstream.cli.bridge import run_bridge

    asyncio.run(run_bridge(_settings(), stream, group, consumer))


@cli.group()
def projects() -> None:
    """The projects whose events are accepted."""


@projects.command("add")
@click.argument("project_id", type=click.IntRange(min=1))
@click.argument("name")
def projects_add(project_id: int, name: str) -> None:
    """Register PROJECT_ID (workers accept its events within 5 s)."""
    from cohortstream.projects.registry import register_projects

    asyncio.run(register_projects(_settings().database_url, {project_id: name}))
    click.echo(f"project {project_id} registered")


@projects.command("list")
def projects_list() -> None:
    """List registered projects."""
    import asyncpg

    from cohortstream.cli.tables import render_table

    async def fetch() -> list[dict[str, object]]:
        connection = await asyncpg.connect(_settings().database_url)
        try:
            rows = await connection.fetch(
                "SELECT id, name, created_at, array_to_string(blocked_distinct_ids, ' ')"
                " AS blocked_distinct_ids, max_distinct_ids_per_person FROM projects ORDER BY id"
            )
        finally:
            await connection.close()
        return [dict(row) for row in rows]

    click.echo(render_table(asyncio.run(fetch())))


@projects.command("block")
@click.argument("project_id", type=click.IntRange(min=1))
@click.argument("distinct_ids", nargs=-1, required=True)
def projects_block(project_id: int, distinct_ids: tuple[str, ...]) -> None:
    """Refuse DISTINCT_IDS for PROJECT_ID: their events are dead-lettered and merges
    naming them refused (workers apply it within 5 s)."""
    _set_blocked(project_id, list(distinct_ids), blocked=True)


@projects.command("unblock")
@click.argument("project_id", type=click.IntRange(min=1))
@click.argument("distinct_ids", nargs=-1, required=True)
def projects_unblock(project_id: int, distinct_ids: tuple[str, ...]) -> None:
    """Accept DISTINCT_IDS for PROJECT_ID again."""
    _set_blocked(project_id, list(distinct_ids), blocked=False)


@projects.command("limit")
@click.argument("project_id", type=click.IntRange(min=1))
@click.argument("most", metavar="MAX|none")
def projects_limit(project_id: int, most: str) -> None:
    """At most MAX distinct_ids per person of PROJECT_ID (``none``: no limit). An
    attach or merge past it is refused with a warning (workers apply it within 5 s)."""
    from cohortstream.projects.identity_rules import set_distinct_id_limit
    from cohortstream.sinks.migrate import connect_migrated

    limit = None if most == "none" else _positive(most)

    async def update() -> None:
        connection = await connect_migrated(_settings().database_url)
        try:
            await set_distinct_id_limit(connection, project_id, limit)
        finally:
            await connection.close()

    try:
        asyncio.run(update())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"project {project_id}: {most if limit else 'no'} distinct_id limit per person")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise click.BadParameter(f"{text!r} is neither a positive number nor 'none'")
    return int(text)


def _set_blocked(project_id: int, distinct_ids: list[str], blocked: bool) -> None:
    from cohortstream.projects.identity_rules import set_blocked
    from cohortstream.sinks.migrate import connect_migrated

    async def update() -> list[str]:
        connection = await connect_migrated(_settings().database_url)
        try:
            return await set_blocked(connection, project_id, distinct_ids, blocked)
        finally:
            await connection.close()

    try:
        now_blocked = asyncio.run(update())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"project {project_id} blocks: {' '.join(now_blocked) or '(none)'}")


@cli.group()
def cohorts() -> None:
    """Cohort definitions (workers pick up changes within 5 s)."""


@cohorts.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--backfill-from",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    default=None,
    help="Materialize new criteria from events received since then (UTC); default: all.",
)
def cohorts_apply(file: Path, backfill_from: datetime | None) -> None:
    """Create or update the cohort(s) defined in FILE (JSON: one object or a list).
    New or changed criteria are materialized from history before they go live."""
    from cohortstream.cli.cohorts import apply_file
    from cohortstream.cohorts.definition import DefinitionError

    since = backfill_from.replace(tzinfo=UTC) if backfill_from else None
    try:
        raw = orjson.loads(file.read_bytes())
        applied = asyncio.run(apply_file(_settings().database_url, raw, since))
    except (DefinitionError, orjson.JSONDecodeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    click.echo(f"applied {', '.join(applied)}")


@cohorts.command("list")
def cohorts_list() -> None:
    """List cohort definitions."""
    from cohortstream.cli.cohorts import list_cohorts
    from cohortstream.cli.tables import render_table

    click.echo(render_table(asyncio.run(list_cohorts(_settings().database_url))))


@cohorts.command("delete")
@click.argument("project_id", type=click.IntRange(min=1))
@click.argument("cohort_id")
def cohorts_delete(project_id: int, cohort_id: str) -> None:
    """Stop evaluating COHORT_ID of PROJECT_ID."""
    from cohortstream.cli.cohorts import delete_cohort
    from cohortstream.cohorts.definition import DefinitionError

    try:
        asyncio.run(delete_cohort(_settings().database_url, project_id, cohort_id))
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"cohort {cohort_id} deleted")


@cli.group()
def dlq() -> None:
    """Inspect and replay dead letters."""


@dlq.command("stats")
def dlq_stats() -> None:
    """Count the dead-letter topic's records by reason."""
    from collections import Counter

    from cohortstream.cli.tables import render_table
    from cohortstream.replay.dlq import reason_of
    from cohortstream.streams.admin import read_topic

    settings = _settings()
    records = asyncio.run(read_topic(settings, settings.dead_letter_topic))
    counts = Counter(reason_of(record) for record in records)
    rows = [{"reason": reason, "records": n} for reason, n in counts.most_common()]
    click.echo(render_table(rows))


@dlq.command("replay")
@click.option(
    "--reason",
    "reasons",
    multiple=True,
    help="Reason to replay (repeatable). Default: clickhouse_insert_failed, internal_error.",
)
@click.option("--follow", is_flag=True, help="Keep replaying new dead letters.")
def dlq_replay(reasons: tuple[str, ...], follow: bool) -> None:
    """Re-produce dead letters to the events topic, under a Redis lock, with a circuit breaker."""
    from cohortstream.cli.replay import run_replay

    run_replay(_settings(), reasons, follow)


@cli.command("rebuild-tables")
def rebuild_tables() -> None:
    """Delete this worker's on-disk tables (TABLE_DATA_DIR), so that it rebuilds them
    from their changelog topics when it next starts. Run with the worker stopped."""
    import shutil
    import socket

    settings = _settings()
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", settings.web_port)) == 0:
            raise click.ClickException(
                f"a worker answers on port {settings.web_port}: stop it first"
            )
    path = settings.worker_tables_dir
    if not path.exists():
        click.echo(f"nothing at {path}: the worker rebuilds its tables when it starts")
        return
    shutil.rmtree(path)
    click.echo(f"removed {path}: the worker rebuilds its tables from the changelogs on start")


@cli.command()
@click.option("--topic", required=True, help="Topic whose offsets move (e.g. events).")
@click.option("--group", required=True, help="Consumer group (the workers': cohortstream).")
@click.option("--to-earliest", is_flag=True, help="Reprocess everything the topic holds.")
@click.option("--to-offset", type=int, default=None, help="This offset in every partition.")
@click.option(
    "--to-time",
    default=None,
    help="The first record at or after this ISO time (with zone), per partition.",
)
@click.option(
    "--partitions", default=None, help="Comma-separated partitions (default: all of them)."
)
@click.option(
    "--wait-s",
    default=60.0,
    show_default=True,
    help="How long to wait for the group's members to leave (a killed worker's session).",
)
@click.option(
    "--evict-stale",
    is_flag=True,
    help="Members remain though the workers are stopped (tansu keeps them): join to drop "
    "them. Refused, with nothing moved, if a member is still consuming.",
)
def replay(
    topic: str,
    group: str,
    to_earliest: bool,
    to_offset: int | None,
    to_time: str | None,
    partitions: str | None,
    wait_s: float,
    evict_stale: bool,
) -> None:
    """Move GROUP's committed offsets on TOPIC, with its workers stopped: the next
    workers reprocess from there (the sinks are idempotent)."""
    from cohortstream.cli.tables import render_table
    from cohortstream.replay.offsets import ReplayError, Target, reset_offsets

    if sum((to_earliest, to_offset is not None, to_time is not None)) != 1:
        raise click.UsageError("give exactly one of --to-earliest, --to-offset, --to-time")
    target = Target(earliest=to_earliest, offset=to_offset, time=_aware_time(to_time))
    chosen = None
    if partitions:
        try:
            chosen = [int(p) for p in partitions.split(",")]
        except ValueError as exc:
            raise click.BadParameter("comma-separated numbers", param_hint="--partitions") from exc
    try:
        moved = asyncio.run(
            reset_offsets(_settings(), topic, group, target, chosen, wait_s, evict_stale)
        )
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [{"partition": m.partition, "before": m.before, "after": m.after} for m in moved]
    click.echo(render_table(rows))
    click.echo(f"group {group!r} resumes {topic!r} from these offsets when its workers start")


def _aware_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO time: {text!r}", param_hint="--to-time") from exc
    if parsed.tzinfo is None:
        raise click.BadParameter("give a zone, e.g. 2026-11-23T10:00:00Z", param_hint="--to-time")
    return parsed


@cli.command()
@click.option("--users", default=2000, show_default=True, help="Simulated users per scenario.")
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    default=["singles", "sdk-batches"],
    show_default=True,
    type=click.Choice(["singles", "sdk-batches"]),
)
@click.option(
    "--results-dir",
    default="bench/results",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--state-users",
    default="10000,100000,1000000",
    show_default=True,
    help="User counts at which to measure table state per person (comma-separated; '' skips).",
)
@click.option(
    "--workers",
    default="1,2",
    show_default=True,
    help="Worker counts to run the pipeline with (comma-separated; 1 always runs).",
)
@click.option(
    "--rss-passes",
    default=8,
    show_default=True,
    help="Passes of the workload (same persons, new events) to one worker, its RSS read "
    "after each; 0 skips.",
)
def bench(
    users: int,
    seed: int,
    scenarios: list[str],
    results_dir: Path,
    state_users: str,
    workers: str,
    rss_passes: int,
) -> None:
    """Measure throughput on a fresh local stack against the raw-consumer ceiling."""
    from cohortstream.bench.runner import run_bench

    counts = [int(n) for n in state_users.replace("_", "").split(",") if n.strip()]
    try:
        worker_counts = tuple(int(n) for n in workers.split(",") if n.strip())
    except ValueError as exc:
        raise click.BadParameter(f"not a list of numbers: {workers!r}") from exc
    if any(n < 1 for n in worker_counts):
        raise click.BadParameter("worker counts must be at least 1", param_hint="--workers")
    run_bench(users, seed, list(scenarios), results_dir, counts, worker_counts, rss_passes)


@cli.command()
@click.option("--users", default=2000, show_default=True, help="Simulated users.")
@click.option("--seed", default=7, show_default=True)
@click.option(
    "--scenario",
    default="singles",
    show_default=True,
    type=click.Choice(["singles", "sdk-batches"]),
)
@click.option(
    "--out",
    "out_dir",
    default="bench/results/profile",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
def profile(users: int, seed: int, scenario: str, out_dir: Path) -> None:
    """Sample one worker with py-spy under the bench workload: CPU per event, per step."""
    from cohortstream.bench.profile import run_profile

    run_profile(users, seed, scenario == "sdk-batches", out_dir)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
