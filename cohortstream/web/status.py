"""``GET /``: a status page for people; ``GET /status.json``: the figures behind it.

Throughput is read from ClickHouse (events stored in the last minute, every
worker's), lag from every worker's ``/partitions``, cohort sizes from
``cohort_members`` with the last hour of ``cohort_membership_history``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.web import Request, Response, View

from cohortstream.streams.app import app
from cohortstream.web.cohorts import (
    BadRequest,
    WorkerUnavailable,
    ask_every_worker,
    error_response,
    parse_project,
    warehouse,
)
from cohortstream.web.partitions import this_worker
from cohortstream.web.status_render import render_status

THROUGHPUT_WINDOW_S = 60

STORED_LAST_MINUTE = f"""SELECT count() AS n FROM events
WHERE _inserted_at >= now64(6) - INTERVAL {THROUGHPUT_WINDOW_S} SECOND"""  # noqa: S608 - an int
# The 200 largest cohorts: a page, not a report. {project}: "" or " AND project_id = N".
SIZES = """SELECT project_id, cohort_id, countIf(is_member = 1) AS members
FROM cohort_members FINAL WHERE 1{project} GROUP BY project_id, cohort_id
ORDER BY members DESC, project_id, cohort_id LIMIT 200"""
HISTORY = """SELECT project_id, cohort_id, groupArray(members) AS sizes FROM (
    SELECT project_id, cohort_id, at, max(members) AS members
    FROM cohort_membership_history WHERE at >= now() - INTERVAL 1 HOUR{project}
    GROUP BY project_id, cohort_id, at ORDER BY at)
GROUP BY project_id, cohort_id"""


async def gather_status(project_id: int | None = None) -> dict[str, Any]:
    """Every figure the page shows (cohorts of ``project_id`` only, when given); a
    part that cannot be had is named in ``problems``."""
    problems: list[str] = []
    only = "" if project_id is None else f" AND project_id = {int(project_id)}"
    try:
        shares = await ask_every_worker("/partitions", this_worker)
    except WorkerUnavailable as exc:
        shares, problems = [this_worker()], [f"lag of other workers unknown: {exc}"]
    workers = [
        {
            "worker": share["worker"],
            "partitions": sum(len(p) for p in share["assigned"].values()),
            "lag": sum(sum(by_partition.values()) for by_partition in share["lag"].values()),
        }
        for share in shares
    ]
    events_per_s, cohorts = 0.0, []
    try:
        stored = await warehouse().query_rows(STORED_LAST_MINUTE)
        events_per_s = int(stored[0]["n"]) / THROUGHPUT_WINDOW_S
        history = {
            (int(r["project_id"]), r["cohort_id"]): [int(n) for n in r["sizes"]]
            for r in await warehouse().query_rows(HISTORY.format(project=only))
        }
        cohorts = [
            {
                "project_id": int(r["project_id"]),
                "cohort_id": r["cohort_id"],
                "members": int(r["members"]),
                "history": history.get((int(r["project_id"]), r["cohort_id"]), []),
            }
            for r in await warehouse().query_rows(SIZES.format(project=only))
        ]
    except Exception as exc:  # the page still shows lag while ClickHouse is away
        problems.append(f"ClickHouse: {exc}")
    return {
        "events_per_s": events_per_s,
        "lag": sum(w["lag"] for w in workers),
        "workers": workers,
        "cohorts": cohorts,
        "problems": problems,
    }


def _project(request: Request) -> int | None:
    """``?project_id=N``: that project's cohorts only; None when absent."""
    raw = request.query.get("project_id")
    if raw is None:
        return None
    return parse_project(raw)


@app.page("/status.json")
class StatusJson(View):
    async def get(self, request: Request) -> Response:
        return await _answer(self, request, self.json)


@app.page("/")
class StatusPage(View):
    async def get(self, request: Request) -> Response:
        return await _answer(self, request, lambda status: self.html(render_status(status)))


async def _answer(
    view: View, request: Request, render: Callable[[dict[str, Any]], Response]
) -> Response:
    try:
        project_id = _project(request)
    except BadRequest as exc:
        return error_response(view, exc)
    return render(await gather_status(project_id))
