"""``cohortstream bench``: a fresh local stack, each scenario measured, a table printed."""

from __future__ import annotations

import asyncio
import os
import platform
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click
import orjson

from cohortstream.bench.cohorts import bench_cohorts
from cohortstream.bench.latency import measure_latency
from cohortstream.bench.measure import (
    Result,
    measure_ceiling,
    measure_naive,
    measure_pipeline,
    prepare,
    produce,
)
from cohortstream.bench.memory_growth import (
    RSS_ROCKSDB_MEMORY_MB,
    RssPoint,
    growth_per_10k_events,
    growth_rows,
    measure_rss_growth,
)
from cohortstream.bench.state_size import StateSize, measure_state_size, state_rows
from cohortstream.bench.workload import event_count, workload
from cohortstream.cli.cohorts import apply_file
from cohortstream.cli.tables import render_table
from cohortstream.localstack.processes import free_port
from cohortstream.localstack.stack import StackPorts, down, up
from cohortstream.projects.registry import register_projects
from cohortstream.settings import Settings

SCENARIOS = {"singles": False, "sdk-batches": True}


def run_bench(
    users: int,
    seed: int,
    scenarios: list[str],
    results_dir: Path,
    state_users: list[int],
    worker_counts: tuple[int, ...] = (1, 2),
    rss_passes: int = 0,
) -> list[Result]:
    """``worker_counts``: the pipeline runs per scenario; 1 is always among them,
    as every ratio is to one worker. ``rss_passes``: see ``bench.memory_growth``."""
    worker_counts = tuple(sorted({1, *worker_counts}))
    with tempfile.TemporaryDirectory(prefix="cohortstream-bench-") as tmp:
        state_dir = Path(tmp)
        ports = StackPorts(free_port(), free_port(), free_port(), free_port())
        click.echo(f"starting a fresh local stack in {state_dir} ...")
        up(state_dir, ports, say=lambda _: None)
        results: list[Result] = []
        rss: list[RssPoint] = []
        try:
            latency = asyncio.run(
                _run(
                    Settings.load_for(state_dir),
                    users,
                    seed,
                    scenarios,
                    worker_counts,
                    rss_passes,
                    results,
                    rss,
                )
            )
        except Exception as exc:
            # What was measured before a run failed is still worth its table.
            click.echo(f"bench stopped: {type(exc).__name__}: {exc}", err=True)
            _report(results, None, [], users, seed, results_dir, rss)
            raise
        finally:
            down(state_dir, say=lambda _: None)
    sizes = []
    for count in state_users:  # in process, after the stack is gone: CPU of its own
        click.echo(f"state per person at {count:,} users ...")
        sizes.append(measure_state_size(count, seed))
    _report(results, latency, sizes, users, seed, results_dir, rss)
    return results


def _projects(scenario_index: int, worker_counts: tuple[int, ...]) -> dict[int, int]:
    """Workers -> the project of that run: row counts are per project."""
    if len(worker_counts) > 9:
        raise click.BadParameter("at most 9 worker counts", param_hint="--workers")
    return {n: 10 * scenario_index + i for i, n in enumerate(worker_counts, start=1)}


def run_name(workers: int, scenario: str) -> str:
    return f"cohortstream {workers} worker{'s' if workers > 1 else ''} ({scenario})"


LATENCY_PROJECTS = {"half": 90, "full": 91}  # one per load: every person is new
RSS_PROJECT = 92
LATENCY_SECONDS = 15.0


async def _run(
    settings: Settings,
    users: int,
    seed: int,
    scenarios: list[str],
    worker_counts: tuple[int, ...],
    rss_passes: int,
    results: list[Result],
    rss: list[RssPoint],
) -> dict[str, Any] | None:
    """Appends to ``results`` and ``rss`` as each run ends; returns the latency runs."""
    await prepare(settings)
    projects = {p: f"bench latency, {load} load" for load, p in LATENCY_PROJECTS.items()}
    projects[RSS_PROJECT] = "bench RSS against events processed"
    for index, scenario in enumerate(scenarios, 1):
        for workers, project_id in _projects(index, worker_counts).items():
            projects[project_id] = f"bench {run_name(workers, scenario)}"
    await register_projects(settings.database_url, projects)
    # Cohorts first, so each is live (backfilled from an empty history) before timing.
    throughput_projects = [p for p in projects if p not in LATENCY_PROJECTS.values()]
    await apply_file(
        settings.database_url, [c for p in throughput_projects for c in bench_cohorts(p)]
    )
    for index, scenario in enumerate(scenarios, start=1):
        batched = SCENARIOS[scenario]
        runs = _projects(index, worker_counts)
        one = runs[1]
        messages = workload(users, seed, batched, one)
        events = event_count(messages)
        click.echo(f"{scenario}: {len(messages)} messages, {events} events")
        ceiling_topic = f"bench_ceiling_{scenario}"
        await produce(settings, ceiling_topic, messages)
        ceiling = await measure_ceiling(settings, ceiling_topic, len(messages), events)
        results.append(replace(ceiling, name=f"{ceiling.name} ({scenario})"))
        click.echo(f"  {results[-1].name}: {results[-1].events_per_s:,.0f} events/s")
        results.append(
            await measure_naive(settings, scenario, messages, events, settings.state_dir)
        )
        _say(results[-1])
        for workers, project_id in runs.items():
            run_messages = (
                messages if project_id == one else workload(users, seed, batched, project_id)
            )
            results.append(
                await measure_pipeline(
                    settings,
                    run_name(workers, scenario),
                    run_messages,
                    events,
                    project_id,
                    settings.state_dir,
                    workers=workers,
                )
            )
            _say(results[-1])
    singles = [r for r in results if r.name == "cohortstream 1 worker (singles)"]
    latency: dict[str, Any] = {}
    if singles:
        # Each qualifying event also sets a timer whose leave costs the worker about
        # as much as the event: 50 % of the peak is a quarter of the peak in events.
        # Half the peak in events loads it fully; measured too, to show what that does.
        for load, share in (("half", 0.25), ("full", 0.5)):
            rate = max(1.0, singles[0].events_per_s * share)
            click.echo(f"latency at {rate:,.0f} events/s for {LATENCY_SECONDS:.0f} s ...")
            latency[load] = await measure_latency(
                settings, LATENCY_PROJECTS[load], rate, LATENCY_SECONDS, settings.state_dir
            )
    # Last: its passes leave the chdb host merging parts on the same cores. Four
    # passes run just before the latency runs gave a transition p99 of 1,810 ms at
    # 815 events/s, where the same rate on a stack of its own gave 535.
    if rss_passes:
        click.echo(f"RSS of one worker over {rss_passes} passes of the same persons ...")
        rss.extend(
            await measure_rss_growth(
                settings, users, seed, rss_passes, RSS_PROJECT, settings.state_dir
            )
        )
    return latency or None


def _say(result: Result) -> None:
    click.echo(
        f"  {result.name}: {result.events_per_s:,.0f} events/s, "
        f"{result.cpu_us_per_event:,.0f} us worker CPU per event"
    )


def _by_name(results: list[Result]) -> dict[str, Result]:
    return {r.name: r for r in results}


def _more_workers(results: list[Result], scenario: str) -> list[int]:
    """The worker counts above one that ran for ``scenario``, ascending."""
    return sorted(
        r.workers for r in results if r.workers > 1 and r.name == run_name(r.workers, scenario)
    )


def ratios(results: list[Result], scenarios: list[str]) -> list[dict[str, str]]:
    """Per scenario: cohortstream 1 worker / naive, / ceiling, and N workers / 1, in
    events/s; and N workers / 1 in CPU per event."""
    found = _by_name(results)
    rows = []
    for scenario in scenarios:
        one = found.get(run_name(1, scenario))
        naive = found.get(f"naive Faust agent ({scenario})")
        ceiling = found.get(f"ceiling: raw aiokafka + orjson ({scenario})")

        def ratio(a: Result | None, b: Result | None) -> str:
            if a is None or b is None or not b.events_per_s:
                return "-"
            return f"{a.events_per_s / b.events_per_s:.2f}x"

        def cpu_ratio(a: Result | None, b: Result | None) -> str:
            if a is None or b is None or not b.cpu_us_per_event:
                return "-"
            return f"{a.cpu_us_per_event / b.cpu_us_per_event:.2f}x"

        row = {
            "scenario": scenario,
            "1 worker / naive": ratio(one, naive),
            "1 worker / ceiling": ratio(one, ceiling),
        }
        for n in _more_workers(results, scenario):
            many = found.get(run_name(n, scenario))
            row[f"{n} workers / 1 worker"] = ratio(many, one)
            # 1.00x: more workers add no work per event, so on free cores throughput
            # grows with workers; more than that: the cost of splitting.
            row[f"CPU per event, {n} workers / 1"] = cpu_ratio(many, one)
        rows.append(row)
    columns = list(dict.fromkeys(column for row in rows for column in row))
    return [{column: row.get(column, "-") for column in columns} for row in rows]


LATENCY_PATHS = (
    ("event -> row in ClickHouse", "event_to_row_ms"),
    ("qualifying event -> transition", "event_to_transition_ms"),
    ("timer lateness (record - deadline)", "timer_lateness_ms"),
)
LOADS = {"half": "50 % of peak", "full": "100 % of peak"}


def latency_rows(latency: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "load (commands)": LOADS.get(load, load),
            "events/s": f"{run['rate_per_s']:,.0f}",
            "path": path,
            "p50": f"{run[key]['p50']:,.0f}",
            "p95": f"{run[key]['p95']:,.0f}",
            "p99": f"{run[key]['p99']:,.0f}",
            "n": run[key]["n"],
        }
        for load, run in latency.items()
        for path, key in LATENCY_PATHS
    ]


def _report(
    results: list[Result],
    latency: dict[str, Any] | None,
    sizes: list[StateSize],
    users: int,
    seed: int,
    results_dir: Path,
    rss: list[RssPoint] | None = None,
) -> None:
    rows = [
        {
            "measurement": r.name,
            "messages/s": f"{r.messages_per_s:,.0f}",
            "events/s": f"{r.events_per_s:,.0f}",
            "events": r.events,
            "seconds": f"{r.seconds:.2f}",
            "peak RSS MB": " / ".join(f"{mb:,.0f}" for mb in r.peak_rss_mb) or "-",
            "CPU us/event": f"{r.cpu_us_per_event:,.0f}" if r.cpu_s else "-",
            "events/s per core": f"{1e6 / r.cpu_us_per_event:,.0f}" if r.cpu_s else "-",
        }
        for r in results
    ]
    click.echo("\n" + render_table(rows))
    scenarios = sorted({r.name[r.name.index("(") + 1 : -1] for r in results if "(" in r.name})
    click.echo("\n" + render_table(ratios(results, scenarios)))
    if latency:
        click.echo(
            "\nlatency, ms: qualifying events of new persons, each joining at once and"
            " leaving by timer 10 s later (so each costs two person commands)"
        )
        click.echo(render_table(latency_rows(latency)))
    if rss:
        click.echo(
            "\none worker's RSS, the same persons sent new events pass after pass"
            f" (ROCKSDB_MEMORY_MB={RSS_ROCKSDB_MEMORY_MB}):"
        )
        click.echo(render_table(growth_rows(rss)))
        slope = growth_per_10k_events(rss)
        if slope is not None:
            click.echo(f"least-squares slope from pass 1 on: {slope:+.2f} MB per 10,000 events")
    if sizes:
        click.echo("\ntable state per live person (identity and person values, as stored):")
        click.echo(render_table(state_rows(sizes)))
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_bytes(
        orjson.dumps(
            {
                "users": users,
                "seed": seed,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "results": [
                    {
                        **asdict(r),
                        "events_per_s": r.events_per_s,
                        "messages_per_s": r.messages_per_s,
                        "cpu_us_per_event": r.cpu_us_per_event,
                    }
                    for r in results
                ],
                "ratios": ratios(results, scenarios),
                "latency": latency,
                "state": [{**asdict(s), "bytes_per_person": s.bytes_per_person} for s in sizes],
                "rss_by_events": [asdict(point) for point in rss or []],
                "rss_mb_per_10k_events": growth_per_10k_events(rss or []),
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    click.echo(f"written to {path}")
