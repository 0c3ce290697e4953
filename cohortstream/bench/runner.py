"""``cohortstream bench``: a fresh local stack, each scenario measured, a table printed."""

from __future__ import annotations

import asyncio
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import click
import orjson

from cohortstream.bench.measure import Result, measure_ceiling, measure_pipeline, prepare, produce
from cohortstream.bench.workload import event_count, workload
from cohortstream.cli.tables import render_table
from cohortstream.localstack.processes import free_port
from cohortstream.localstack.stack import StackPorts, down, up
from cohortstream.projects.registry import register_projects
from cohortstream.settings import Settings

SCENARIOS = {"singles": False, "sdk-batches": True}


def run_bench(users: int, seed: int, scenarios: list[str], results_dir: Path) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="cohortstream-bench-") as tmp:
        state_dir = Path(tmp)
        ports = StackPorts(free_port(), free_port(), free_port(), free_port())
        click.echo(f"starting a fresh local stack in {state_dir} ...")
        up(state_dir, ports, say=lambda _: None)
        try:
            results = asyncio.run(_run(Settings.load_for(state_dir), users, seed, scenarios))
        finally:
            down(state_dir, say=lambda _: None)
    _report(results, users, seed, results_dir)
    return results


async def _run(settings: Settings, users: int, seed: int, scenarios: list[str]) -> list[Result]:
    await prepare(settings)
    await register_projects(
        settings.database_url,
        {project_id: f"bench {scenario}" for project_id, scenario in enumerate(scenarios, 1)},
    )
    results: list[Result] = []
    for project_id, scenario in enumerate(scenarios, start=1):
        messages = workload(users, seed, SCENARIOS[scenario], project_id)
        events = event_count(messages)
        click.echo(f"{scenario}: {len(messages)} messages, {events} events")
        ceiling_topic = f"bench_ceiling_{scenario}"
        await produce(settings, ceiling_topic, messages)
        results.append(await measure_ceiling(settings, ceiling_topic, len(messages), events))
        results.append(
            await measure_pipeline(
                settings,
                f"cohortstream 1 worker ({scenario})",
                messages,
                events,
                project_id,
                settings.state_dir,
            )
        )
    return results


def _report(results: list[Result], users: int, seed: int, results_dir: Path) -> None:
    rows = [
        {
            "measurement": r.name,
            "messages/s": f"{r.messages_per_s:,.0f}",
            "events/s": f"{r.events_per_s:,.0f}",
            "events": r.events,
            "seconds": f"{r.seconds:.2f}",
        }
        for r in results
    ]
    click.echo("\n" + render_table(rows))
    for ceiling, pipeline in zip(results[::2], results[1::2], strict=True):
        ratio = pipeline.events_per_s / ceiling.events_per_s if ceiling.events_per_s else 0
        click.echo(f"{pipeline.name} / ceiling (events/s): {ratio:.1%}")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_bytes(
        orjson.dumps(
            {
                "users": users,
                "seed": seed,
                "machine": platform.platform(),
                "cpus": __import__("os").cpu_count(),
                "results": [
                    {
                        **asdict(r),
                        "events_per_s": r.events_per_s,
                        "messages_per_s": r.messages_per_s,
                    }
                    for r in results
                ],
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    click.echo(f"written to {path}")
