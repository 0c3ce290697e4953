"""At the shutdown bound the worker names what it was still waiting for."""

import asyncio

from cohortstream.cli.worker import _pending_tasks


async def _waits_for_a_flush(done: asyncio.Event) -> None:
    await done.wait()


async def test_pending_tasks_show_where_each_waits():
    done = asyncio.Event()
    task = asyncio.create_task(_waits_for_a_flush(done), name="sink-flush")
    await asyncio.sleep(0)
    try:
        report = await asyncio.to_thread(_pending_tasks, asyncio.get_running_loop())
    finally:
        done.set()
        await task
    line = next(line for line in report.splitlines() if "sink-flush" in line)
    assert "_waits_for_a_flush" in line and "-> wait (" in line
    assert _pending_tasks(None) == "(no loop)"
