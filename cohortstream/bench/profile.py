"""``cohortstream profile``: where one worker's CPU goes, sampled with py-spy.

The bench's workload is sent to one warmed-up worker on a fresh local stack
while py-spy samples it; the report gives the worker's CPU per event and the
share of samples under each pipeline step (the first frames an event-loop
callback runs: an agent and the function it calls). bench/README.md reads it.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import click

from cohortstream.bench.cohorts import bench_cohorts
from cohortstream.bench.measure import (
    cpu_seconds,
    prepare,
    produce,
    start_worker,
    stop_worker,
    wait_cohorts_live,
    wait_for_rows,
    warm_up,
)
from cohortstream.bench.workload import event_count, workload
from cohortstream.cli.cohorts import apply_file
from cohortstream.cli.tables import render_table
from cohortstream.localstack.processes import free_port
from cohortstream.localstack.stack import StackPorts, down, up
from cohortstream.projects.registry import register_projects
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse

PROJECT = 11
SAMPLE_RATE_HZ = 100
ROWS_TIMEOUT_S = 600.0
_LINE = re.compile(r":\d+\)")


def steps(raw_lines: Iterable[str], depth: int = 2) -> tuple[int, Counter[str]]:
    """Samples in all, and per step: the ``depth`` frames under the event loop's
    ``Handle._run`` (e.g. ``update_persons > apply_each``), or the thread's
    entry for samples of other threads. Input: py-spy's ``--format raw`` lines."""
    total = 0
    shares: Counter[str] = Counter()
    for line in raw_lines:
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", frame).split(" (")[0] for frame in stack.split(";")]
        runs = [i for i, frame in enumerate(frames) if frame == "Handle._run"]
        if runs:
            below = [f for f in frames[runs[-1] + 1 :] if f != "Agent._execute_actor"]
            step = " > ".join(below[:depth]) or "(event loop)"
        else:
            step = "(thread) " + " > ".join(frames[-2:])
        shares[step] += int(count)
        total += int(count)
    return total, shares


def report(total: int, shares: Counter[str], top: int = 25) -> list[dict[str, str]]:
    return [
        {"share of samples": f"{n / total:.1%}", "step": step}
        for step, n in shares.most_common(top)
    ]


def run_profile(users: int, seed: int, batched: bool, out_dir: Path) -> None:
    beside = Path(sys.executable).with_name("py-spy")  # a venv's, when not on PATH
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        raise click.ClickException("py-spy is not installed: pip install -e '.[bench]'")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cohortstream-profile-") as tmp:
        state_dir = Path(tmp)
        up(state_dir, StackPorts(free_port(), free_port(), free_port(), free_port()), say=print)
        try:
            asyncio.run(_profile(Settings.load_for(state_dir), spy, users, seed, batched, out_dir))
        finally:
            down(state_dir, say=lambda _: None)


async def _profile(
    settings: Settings, spy: str, users: int, seed: int, batched: bool, out_dir: Path
) -> None:
    await prepare(settings)
    await register_projects(settings.database_url, {PROJECT: "profile"})
    await apply_file(settings.database_url, bench_cohorts(PROJECT))
    messages = workload(users, seed, batched, PROJECT)
    events = event_count(messages)
    process, port = await start_worker(settings, out_dir / "worker.log")
    warehouse = open_warehouse(settings)
    try:
        await warm_up(settings, warehouse, [port], PROJECT, ROWS_TIMEOUT_S)
        await wait_cohorts_live(settings, PROJECT, ROWS_TIMEOUT_S)
        raw = out_dir / "py-spy.raw"
        sampler = await asyncio.create_subprocess_exec(
            *[spy, "record", "--pid", str(process.pid), "--format", "raw", "-o", str(raw)],
            *["--rate", str(SAMPLE_RATE_HZ), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cpu_before, started = cpu_seconds(process.pid), time.perf_counter()
        await produce(settings, settings.events_topic, messages)
        await wait_for_rows(warehouse, PROJECT, events + 1, ROWS_TIMEOUT_S)
        seconds, cpu = time.perf_counter() - started, cpu_seconds(process.pid) - cpu_before
        sampler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        await asyncio.wait_for(sampler.wait(), timeout=60)
    finally:
        await warehouse.close()
        await stop_worker(process, settings.shutdown_timeout_s)
    total, shares = steps(raw.read_text().splitlines())
    click.echo(
        f"{events} events ({len(messages)} messages) in {seconds:.1f} s: "
        f"{events / seconds:,.0f} events/s; worker CPU {cpu:.1f} s, "
        f"{cpu / events * 1e6:.0f} us per event; {total} samples in {raw}"
    )
    click.echo(render_table(report(total, shares)))
