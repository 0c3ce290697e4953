"""The bench harness's own behaviour around failures: how workers leave, and what a
run that stops half-way still reports."""

import asyncio

import orjson
import pytest

from cohortstream.bench import measure, runner
from cohortstream.bench.measure import Result


def test_workers_leave_one_at_a_time_each_once_the_others_are_ready_again(monkeypatch):
    steps = []

    async def stop_worker(process, shutdown_timeout_s):
        steps.append(("stop", process))

    async def wait_ready(ports, timeout_s):
        steps.append(("ready", tuple(ports)))
        if ports == [8001, 8002]:
            raise RuntimeError("not ready in time")  # the stops go on regardless

    monkeypatch.setattr(measure, "stop_worker", stop_worker)
    monkeypatch.setattr(measure, "wait_ready", wait_ready)
    workers = [("w1", 8001), ("w2", 8002), ("w3", 8003)]
    asyncio.run(measure.stop_workers(workers, shutdown_timeout_s=1.0))
    assert steps == [
        ("stop", "w3"),
        ("ready", (8001, 8002)),
        ("stop", "w2"),
        ("ready", (8001,)),
        ("stop", "w1"),
    ]


def test_a_bench_that_fails_half_way_still_writes_what_it_measured(monkeypatch, tmp_path):
    stack = []
    monkeypatch.setattr(runner, "up", lambda state_dir, ports, say: stack.append("up"))
    monkeypatch.setattr(runner, "down", lambda state_dir, say: stack.append("down"))

    async def half_way(settings, users, seed, scenarios, worker_counts, rss_passes, results, rss):
        results.append(Result("naive Faust agent (singles)", 100, 100, 1.0, cpu_s=(0.02,)))
        raise RuntimeError("the next worker never became ready")

    monkeypatch.setattr(runner, "_run", half_way)
    with pytest.raises(RuntimeError, match="never became ready"):
        runner.run_bench(100, 7, ["singles"], tmp_path, state_users=[1000])
    assert stack == ["up", "down"]
    [written] = list(tmp_path.glob("bench-*.json"))
    report = orjson.loads(written.read_bytes())
    assert [r["name"] for r in report["results"]] == ["naive Faust agent (singles)"]
    assert report["state"] == []  # the in-process state runs come after the stack: skipped
