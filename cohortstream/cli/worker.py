"""``cohortstream worker``: one Faust worker in the foreground."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from faust.worker import Worker

from cohortstream.logs import quiet_libraries, use_json_logs

EXIT_SHUTDOWN_OVERRUN = 3


def _exit_overrun(timeout_s: float) -> None:
    logging.getLogger(__name__).error("shutdown took over %.0f s: exiting without it", timeout_s)
    os._exit(EXIT_SHUTDOWN_OVERRUN)


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
                self.shutdown_timeout_s, _exit_overrun, (self.shutdown_timeout_s,)
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
