"""``GET /partitions``: what this worker consumes, its lag per partition (as of the
last progress check, every few seconds), and the table partitions it holds."""

from __future__ import annotations

from typing import Any

from faust.web import Request, Response, View

from cohortstream.agents import health
from cohortstream.streams.app import app


def this_worker() -> dict[str, Any]:
    """What this worker consumes, its lag per partition and its standbys."""
    assigned: dict[str, list[int]] = {}
    for tp in app.consumer.assignment():
        assigned.setdefault(tp.topic, []).append(tp.partition)
    standby: dict[str, list[int]] = {}
    for tp in app.assignor.assigned_standbys():
        standby.setdefault(tp.topic, []).append(tp.partition)
    lag: dict[str, dict[str, int]] = {}
    for (topic, partition), behind in sorted(health.watch.lag().items()):
        lag.setdefault(topic, {})[str(partition)] = behind
    return {
        "worker": str(app.conf.canonical_url),
        "lag": lag,
        "assigned": {t: sorted(p) for t, p in sorted(assigned.items())},
        "standby": {t: sorted(p) for t, p in sorted(standby.items())},
    }


@app.page("/partitions")
class Partitions(View):
    async def get(self, request: Request) -> Response:
        return self.json(this_worker())
