"""Occurrence lists thinned to what sliding windows of one width can tell apart.

Range conditions (``between``) and gap conditions (``started_again``) look
back further than they look *at*: a range 90 to 30 days ago is 60 days wide,
and every pageview of the last 90 days could be in it some day. Keeping them
all would grow with activity. Instead a list keeps a point only while some
window of the width could need it:

- ``keep == 1`` (does a window hold any point; is a point preceded by one
  within the width): a point is dropped when its kept neighbours ``a < y < b``
  are less than a width apart. Every window holding ``y`` then holds ``a`` or
  ``b``, and every point ``a`` covered still is. Any three consecutive kept
  points span at least a width, so a list holds about two points per width.
- ``keep > 1`` (counts up to ``keep``): a point is dropped when every window
  of the width that holds it holds ``keep`` other kept points.

Adding points (late events, redelivery, merges) never makes a dropped point
needed again, so thinning commutes with arrival order in what it answers.
Points are ``[seconds, uuid]`` sorted ascending.
"""

from __future__ import annotations

import bisect
from typing import Any

Point = list[Any]


def thin(points: list[Point], width: int, keep: int) -> list[Point]:
    if keep <= 1:
        return _thin_neighbours(points, width)
    return _thin_counts(points, width, keep)


def _thin_neighbours(points: list[Point], width: int) -> list[Point]:
    kept: list[Point] = []
    for point in points:
        # kept[-1] lies between kept[-2] and this point, which are close enough.
        while len(kept) >= 2 and point[0] - kept[-2][0] < width:
            kept.pop()
        kept.append(point)
    return kept


def _thin_counts(points: list[Point], width: int, keep: int) -> list[Point]:
    kept = list(points)
    times = [t for t, _ in kept]
    index = 0
    while index < len(kept):
        if _covered_without(times, index, width, keep):
            del kept[index]
            del times[index]
        else:
            index += 1
    return kept


def _covered_without(times: list[int], index: int, width: int, keep: int) -> bool:
    """Every window (s - width, s] holding the point at ``index`` holds ``keep`` others.

    Those windows have s in [at, at + width); the count of the others is
    lowest at s = at or just as an earlier point leaves (s = its time + width).
    Kept points are sparse, so few earlier ones lie within a width.
    """
    at = times[index]
    earlier = times[bisect.bisect_right(times, at - width) : bisect.bisect_left(times, at)]
    for s in (at, *(t + width for t in earlier)):
        inside = bisect.bisect_right(times, s) - bisect.bisect_right(times, s - width)
        if inside - 1 < keep:  # minus the point itself, which every such window holds
            return False
    return True


def insert(points: list[Point], point: Point) -> tuple[list[Point], bool]:
    """The list with ``point`` in its place, and whether it was new."""
    position = bisect.bisect_left(points, point)
    if position < len(points) and points[position] == point:
        return points, False
    return [*points[:position], point, *points[position:]], True


def in_window(points: list[Point], after: int, until: int) -> list[Point]:
    """The points with time in (after, until]."""
    times = [t for t, _ in points]
    return points[bisect.bisect_right(times, after) : bisect.bisect_right(times, until)]
