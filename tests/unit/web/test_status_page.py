"""The status page: figures in, HTML out, served at `/` instead of Faust's placeholder."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from cohortstream.streams.app import app
from cohortstream.web import register_views
from cohortstream.web.server import Web
from cohortstream.web.status import StatusPage
from cohortstream.web.status_render import render_status, sparkline

register_views()

STATUS = {
    "events_per_s": 1234.5,
    "lag": 17,
    "workers": [{"worker": "http://w1:6066", "partitions": 8, "lag": 17}],
    "cohorts": [
        {"project_id": 1, "cohort_id": "buyers", "members": 1500, "history": [3, 5, 4]},
        {"project_id": 1, "cohort_id": "new", "members": 0, "history": []},
    ],
    "problems": ["lag of other workers unknown: <w2> answered 503"],
}


class Cells(HTMLParser):
    """Text by element id, table rows as cell texts, and the svg points."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self.points: list[str] = []
        self._table: str | None = None
        self._id: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id")
            self.rows[self._table or ""] = []
        elif tag == "tr" and self._table is not None:
            self.rows[self._table].append([])
        elif tag == "td" and self._table is not None:
            self.rows[self._table][-1].append("")
        elif tag == "polyline":
            self.points.append(found["points"])
        self._id = found.get("id", self._id)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        if tag in ("span", "ul"):
            self._id = None

    def handle_data(self, data: str) -> None:
        if self._table is not None and self.rows[self._table] and self.rows[self._table][-1]:
            self.rows[self._table][-1][-1] += data
        elif self._id is not None:
            self.texts[self._id] = self.texts.get(self._id, "") + data


def test_the_page_shows_throughput_lag_workers_and_cohorts_with_sparklines():
    page = Cells()
    page.feed(render_status(STATUS))
    assert page.texts["throughput"] == "1,234.5 events/s"
    assert page.texts["lag"] == "17 behind"
    assert "<w2> answered 503" in page.texts["problems"]  # escaped in the HTML, read back
    assert page.rows["workers"][1:] == [["http://w1:6066", "8", "17"]]
    assert [row[:3] for row in page.rows["cohorts"][1:]] == [
        ["1", "buyers", "1,500"],
        ["1", "new", "0"],
    ]
    assert len(page.points) == 1  # no history, no line
    assert len(page.points[0].split()) == 3


def test_a_sparkline_spans_its_box_from_lowest_to_highest():
    svg = sparkline([3, 5, 4], width=100, height=20)
    points = [
        tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg)[1].split()
    ]
    assert [x for x, _ in points] == [0.0, 50.0, 100.0]
    assert points[1][1] == 1.0 and points[0][1] == 19.0  # highest on top, lowest at the bottom
    assert sparkline([7, 7])  # a flat line is still drawn
    assert sparkline([]) == ""


def test_root_is_the_status_page_not_fausts_placeholder():
    assert Web.production_blueprints == []
    assert isinstance(app.web, Web)
    assert isinstance(app.web.views["/"], StatusPage)
