"""``cohortstream worker``: one Faust worker in the foreground."""

from __future__ import annotations

import asyncio
import faulthandler
import logging
import os
import threading
from typing import Any

from faust.worker import Worker

from cohortstream.logs import quiet_libraries, use_json_logs

EXIT_SHUTDOWN_OVERRUN = 3


def _exit_overrun(timeout_s: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
    try:
        log = logging.getLogger(__name__)
        log.error("shutdown took over %.0f s: exiting without it", timeout_s)
        # What the shutdown was still waiting for, to find out why it overran.
        log.error("tasks still pending at the shutdown bound:\n%s", _pending_tasks(loop))
        # fd 2, not sys.stderr: the worker redirects that to a logger, with no file number.
        faulthandler.dump_traceback(file=2, all_threads=True)
    finally:
        os._exit(EXIT_SHUTDOWN_OVERRUN)


def _pending_tasks(loop: asyncio.AbstractEventLoop | None) -> str:
    """Each pending task of ``loop`` with the line it waits at (read from another
    thread, best effort: the set may change while it is read)."""
    if loop is None:
        return "(no loop)"
    for _ in range(3):
        try:
            tasks = list(asyncio.all_tasks(loop))
            break
        except RuntimeError:
            continue
    else:
        return "(could not read the task set)"
    lines = []
    for task in tasks:
        where = " -> ".join(_awaiting(task.get_coro())[-3:])  # the innermost: where it waits
        lines.append(f"  {task.get_name()}: {where or '(running)'}")
    return "\n".join(sorted(lines))


def _awaiting(coro: Any) -> list[str]:
    """The chain of coroutines ``coro`` awaits, outermost first."""
    chain: list[str] = []
    while coro is not None and len(chain) < 50:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


class CohortstreamWorker(Worker):
    """A Faust worker whose library log levels (and format) are set after Faust
    configures logging."""

    json_logs = False
    shutdown_timeout_s = 30.0

    def _schedule_shutdown(self, signal: Any) -> None:
        """Stop fetching, finish and flush (lifecycle.close_sinks), commit, close - or,
        past SHUTDOWN_TIMEOUT_S, exit anyway: uncommitted input is redelivered to
        the next owner, so a hung shutdown costs time, not data."""
        if not self._signal_stop_time:
            overrun = threading.Timer(
                self.shutdown_timeout_s,
                _exit_overrun,
                (self.shutdown_timeout_s, asyncio.get_event_loop()),
            )
            overrun.daemon = True
            overrun.start()
        super()._schedule_shutdown(signal)

    def _setup_logging(self) -> None:
        super()._setup_logging()
        quiet_libraries()
        if self.json_logs:
            use_json_logs()


def run_worker(loglevel: str) -> None:
    from cohortstream import agents  # noqa: F401 - registers agents and timers
    from cohortstream.streams.app import app, settings

    # Faust creates its data dir, not the directories above it.
    settings.worker_tables_dir.parent.mkdir(parents=True, exist_ok=True)
    from cohortstream.web import register_views

    register_views()

    CohortstreamWorker.json_logs = settings.log_format == "json"
    CohortstreamWorker.shutdown_timeout_s = settings.shutdown_timeout_s
    worker: Any = CohortstreamWorker(app, loglevel=loglevel)
    worker.execute_from_commandline()
