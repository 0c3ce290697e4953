"""``GET /partitions``: what this worker consumes, and the table partitions it holds."""

from __future__ import annotations

from faust.web import Request, Response, View

from cohortstream.streams.app import app


@app.page("/partitions")
class Partitions(View):
    async def get(self, request: Request) -> Response:
        assigned: dict[str, list[int]] = {}
        for tp in app.consumer.assignment():
            assigned.setdefault(tp.topic, []).append(tp.partition)
        standby: dict[str, list[int]] = {}
        for tp in app.assignor.assigned_standbys():
            standby.setdefault(tp.topic, []).append(tp.partition)
        return self.json(
            {
                "worker": str(app.conf.canonical_url),
                "assigned": {t: sorted(p) for t, p in sorted(assigned.items())},
                "standby": {t: sorted(p) for t, p in sorted(standby.items())},
            }
        )
