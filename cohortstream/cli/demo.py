"""``cohortstream demo``: the local stack, a worker, realistic traffic, and what landed."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import orjson

from cohortstream.cli.producer import EventProducer
from cohortstream.cli.tables import render_table
from cohortstream.demo.generator import DemoConfig, generate_payloads
from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.keys import partition_key
from cohortstream.ingestion.route import route_message
from cohortstream.localstack.processes import free_port, stop_pid
from cohortstream.localstack.stack import StackPorts, describe, is_running
from cohortstream.localstack.stack import down as stack_down
from cohortstream.localstack.stack import up as stack_up
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.warehouse import Warehouse
from cohortstream.streams.admin import ensure_topics

SUMMARY_QUERIES = {
    "Events by name": """
        SELECT event, count() AS events, uniqExact(distinct_id) AS distinct_ids
        FROM events FINAL WHERE project_id = {project} GROUP BY event ORDER BY events DESC""",
    "Top pages": """
        SELECT JSONExtractString(properties, '$pathname') AS page, count() AS pageviews
        FROM events FINAL WHERE project_id = {project} AND event = '$pageview'
        GROUP BY page ORDER BY pageviews DESC LIMIT 5""",
    "Top countries (GeoIP)": """
        SELECT JSONExtractString(properties, '$geoip_country_name') AS country,
               uniqExact(distinct_id) AS distinct_ids, count() AS events
        FROM events FINAL WHERE project_id = {project} GROUP BY country
        ORDER BY events DESC LIMIT 5""",
    "Funnel (distinct ids per step)": """
        SELECT uniqExactIf(distinct_id, event = '$pageview') AS viewed,
               uniqExactIf(distinct_id, event = 'signed_up') AS signed_up,
               uniqExactIf(distinct_id, event = '$identify') AS identified,
               uniqExactIf(distinct_id, event = 'purchase') AS purchased
        FROM events FINAL WHERE project_id = {project}""",
    "Events per day": """
        SELECT toDate(timestamp) AS day, count() AS events
        FROM events FINAL WHERE project_id = {project} GROUP BY day ORDER BY day""",
    "Persons": """
        SELECT count() AS persons, countIf(is_identified = 1) AS identified
        FROM persons FINAL WHERE project_id = {project} AND is_deleted = 0""",
}

COHORTS_QUERY = """
    SELECT cohort_id, entered, left, members, sources FROM (
        SELECT cohort_id, countIf(kind = 'entered') AS entered,
               countIf(kind = 'left') AS left, groupUniqArray(source) AS sources
        FROM cohort_transitions FINAL WHERE project_id = {project} GROUP BY cohort_id
    ) AS t
    LEFT JOIN (
        SELECT cohort_id, countIf(is_member = 1) AS members
        FROM cohort_members FINAL WHERE project_id = {project} GROUP BY cohort_id
    ) AS m USING cohort_id
    ORDER BY cohort_id"""
LIVE_USER = "live-demo-buyer"


def run_demo(settings: Settings, *, users: int, seed: int, keep: bool, timeout_s: float) -> None:
    started_stack = False
    if not is_running(settings.state_dir):
        click.echo("starting the local stack ...")
        stack_up(settings.state_dir, StackPorts(), say=click.echo)
        started_stack = True
    settings = Settings.load_for(settings.state_dir)
    click.echo(describe_stack(settings))
    worker = start_worker(settings)
    try:
        asyncio.run(stream_and_report(settings, DemoConfig(users=users, seed=seed), timeout_s))
    finally:
        stop_pid(worker.pid)
        if started_stack and not keep:
            stack_down(settings.state_dir, say=click.echo)
        elif started_stack:
            click.echo("stack left running; `cohortstream down` stops it")


def describe_stack(settings: Settings) -> str:
    from cohortstream.settings import read_stack_file

    return describe(read_stack_file(settings.state_dir))


def start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    log_path = settings.state_dir / "logs" / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    port = free_port()
    click.echo(f"starting a worker (web on :{port}, log {log_path}) ...")
    env = {
        **os.environ,
        "COHORTSTREAM_STATE_DIR": str(settings.state_dir),
        "WEB_PORT": str(port),
        "SINK_FLUSH_SECONDS": "1",  # a demo shows rows as they come
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cohortstream.cli.main", "worker"],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        env=env,
        cwd=Path.cwd(),
        start_new_session=True,
    )


async def stream_and_report(settings: Settings, config: DemoConfig, timeout_s: float) -> None:
    payloads = list(generate_payloads(config))
    now_ms = int(time.time() * 1000)
    counting = IngestConfig(settings.max_properties_bytes)  # counting only: no GeoIP needed
    expected_uuids: set[str] = set()
    rejected = 0
    encoded = []
    for payload in payloads:
        raw = orjson.dumps(payload)
        key = partition_key(payload)
        routed = route_message(raw, key, now_ms, counting)
        rejected += len(routed.rejected)
        expected_uuids.update(event["uuid"] for event in routed.accepted)
        expected_uuids.update(
            str(e["uuid"]) for events in routed.misrouted.values() for e in events
        )
        encoded.append((raw, key))
    await ensure_topics(settings)
    applied = await apply_demo_cohorts(settings)
    click.echo(f"cohorts: {', '.join(applied)} (cohortstream/demo/cohorts.json)")
    click.echo(
        f"producing {len(encoded)} SDK batches ({len(expected_uuids)} valid events, "
        f"{rejected} malformed) from {config.users} simulated users ..."
    )
    started, since = time.monotonic(), time.time()
    async with EventProducer(settings.kafka_broker, settings.events_topic) as producer:
        await producer.send_many(encoded)
    warehouse = open_warehouse(settings)
    try:
        landed = await wait_for_rows(
            warehouse, config.project_id, len(expected_uuids), timeout_s, started, since
        )
        elapsed = time.monotonic() - started
        for title, query in SUMMARY_QUERIES.items():
            rows = await warehouse.query_rows(query.format(project=config.project_id))
            click.echo(f"\n{title}\n{render_table(rows)}")
        await asyncio.sleep(3)  # the persons sink's last batch
        rows = await warehouse.query_rows(COHORTS_QUERY.format(project=config.project_id))
        click.echo(f"\nCohort transitions so far\n{render_table(rows)}")
        await show_a_live_join_and_leave(settings, warehouse, config.project_id)
    finally:
        await warehouse.close()
    click.echo(
        f"\n{landed} of {len(expected_uuids)} events in ClickHouse after {elapsed:.1f}s; "
        f"{rejected} malformed events went to {settings.dead_letter_topic}."
    )
    if landed < len(expected_uuids):
        raise click.ClickException("not every event landed; see the worker log")


async def apply_demo_cohorts(settings: Settings) -> list[str]:
    from importlib import resources

    from cohortstream.cli.cohorts import apply_file, wait_until_live

    raw = orjson.loads(resources.files("cohortstream.demo").joinpath("cohorts.json").read_bytes())
    applied = await apply_file(settings.database_url, raw)
    # New cohorts are materialized from history (here: none yet) before they go live.
    project_id = raw[0]["project_id"]
    if not await wait_until_live(settings.database_url, project_id, applied, timeout_s=90):
        raise click.ClickException("the demo cohorts did not go live; see the worker log")
    return applied


async def show_a_live_join_and_leave(
    settings: Settings, warehouse: Warehouse, project: int
) -> None:
    """One live purchase: the person joins `just-purchased` at once and leaves 15 s
    later on a timer, with no further event. Read off the cohort_transitions topic."""
    from aiokafka import AIOKafkaConsumer

    from cohortstream.ingestion.person_ids import person_id_for
    from cohortstream.streams.app import COHORT_TRANSITIONS_TOPIC

    person_id = person_id_for(project, LIVE_USER)
    consumer = AIOKafkaConsumer(
        COHORT_TRANSITIONS_TOPIC,
        bootstrap_servers=settings.kafka_broker,
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=1000)  # joins and positions at the end
        click.echo(f"\nlive: {LIVE_USER} buys something now ...")
        payload = {
            "event": "purchase",
            "distinct_id": LIVE_USER,
            "project_id": project,
            "properties": {"amount": 42.0, "at": time.time()},
        }
        sent = time.monotonic()
        async with EventProducer(settings.kafka_broker, settings.events_topic) as producer:
            await producer.send(orjson.dumps(payload), f"{project}:{LIVE_USER}".encode())
        kinds: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(kinds) < 2:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    change = orjson.loads(record.value)
                    if change["person_id"] != person_id or change["cohort_id"] != "just-purchased":
                        continue
                    kinds.append(change["kind"])
                    click.echo(
                        f"  {time.monotonic() - sent:5.1f}s  {change['kind']:<7} just-purchased "
                        f"(source: {change['source']}, key {change['idempotency_key']})"
                    )
    finally:
        await consumer.stop()
    if len(kinds) < 2:
        raise click.ClickException("the live join and leave did not show; see the worker log")


async def wait_for_rows(
    warehouse: Warehouse,
    project_id: int,
    expected: int,
    timeout_s: float,
    started: float,
    since: float,
) -> int:
    deadline = time.monotonic() + timeout_s
    landed = -1
    while time.monotonic() < deadline:
        # This run's events only: the local stack keeps ClickHouse data between runs.
        rows = await warehouse.query_rows(
            f"SELECT count() AS n FROM events FINAL WHERE project_id = {int(project_id)} "  # noqa: S608
            f"AND created_at >= toDateTime64({since - 5:.3f}, 6, 'UTC')"
        )
        current = int(rows[0]["n"])
        if current != landed:
            landed = current
            rate = landed / max(time.monotonic() - started, 1e-9)
            click.echo(f"  {landed:>7} / {expected} events in ClickHouse ({rate:,.0f}/s)")
        if landed >= expected:
            break
        await asyncio.sleep(1.0)
    return landed
