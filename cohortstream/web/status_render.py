"""The status page's HTML, from the figures ``/status.json`` serves.

Rendered on the worker, no script: the page reloads itself every few
seconds, so it works in any browser and in a terminal's ``curl``.
"""

from __future__ import annotations

from html import escape
from typing import Any

REFRESH_S = 5
SPARK_WIDTH, SPARK_HEIGHT = 120, 24


def sparkline(values: list[int], width: int = SPARK_WIDTH, height: int = SPARK_HEIGHT) -> str:
    """An inline SVG polyline of ``values`` (oldest first), scaled to its own range."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{i * step:.1f},{height - (v - low) / span * (height - 2) - 1:.1f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="from {low} to {high}">'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/></svg>'
    )


def render_status(status: dict[str, Any]) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{escape(str(c['project_id']))}</td><td>{escape(c['cohort_id'])}</td>"
        f'<td class="n">{c["members"]:,}</td><td>{sparkline(c["history"])}</td>'
        "</tr>"
        for c in status["cohorts"]
    )
    workers = "".join(
        f'<tr><td>{escape(w["worker"])}</td><td class="n">{w["partitions"]}</td>'
        f'<td class="n">{w["lag"]:,}</td></tr>'
        for w in status["workers"]
    )
    problems = "".join(f"<li>{escape(p)}</li>" for p in status.get("problems", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>cohortstream status</title>
<style>
body {{ font: 14px system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
td, th {{ padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }}
.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.big {{ font-size: 28px; margin-right: 2em; }}
.spark {{ color: #2a6; }}
</style></head>
<body>
<h1>cohortstream</h1>
<p><span class="big" id="throughput">{status["events_per_s"]:,.1f} events/s</span>
<span class="big" id="lag">{status["lag"]:,} behind</span></p>
<p>Events stored in the last minute; records not yet consumed, all workers.</p>
{f'<ul id="problems">{problems}</ul>' if problems else ""}
<h2>Workers</h2>
<table id="workers"><tr><th>worker</th><th>partitions</th><th>lag</th></tr>{workers}</table>
<h2>Cohorts</h2>
<table id="cohorts"><tr><th>project</th><th>cohort</th><th>members</th>
<th>last hour</th></tr>{rows}</table>
<p><a href="/status.json">status.json</a> · <a href="/metrics">metrics</a> ·
<a href="/openapi.json">API</a></p>
</body></html>
"""
