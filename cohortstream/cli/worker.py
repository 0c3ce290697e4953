"""``cohortstream worker``: one Faust worker in the foreground."""

from __future__ import annotations

from typing import Any

from faust.worker import Worker

from cohortstream.logs import quiet_libraries


class CohortstreamWorker(Worker):
    """A Faust worker whose library log levels are set after Faust configures logging."""

    def _setup_logging(self) -> None:
        super()._setup_logging()
        quiet_libraries()


def run_worker(loglevel: str) -> None:
    from cohortstream import agents  # noqa: F401 - registers agents and timers
    from cohortstream.streams.app import app
    from cohortstream.web import (  # noqa: F401 - registers views
        assignment,
        cohorts,
        operations,
        partitions,
        persons,
    )

    worker: Any = CohortstreamWorker(app, loglevel=loglevel)
    worker.execute_from_commandline()
