"""Sequences: which occurrences of the last step end a chain of the steps in order.

A chain is one occurrence per step, each strictly later than the one before
and at most that step's gap after it. Going step by step, an occurrence ends
a chain exactly when the latest chain end of the step before that is earlier
than it lies within its gap: later predecessors are always at least as close.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from cohortstream.cohorts.thinning import Point


def chain_ends(steps: Sequence[list[Point]], gaps: Sequence[int]) -> list[int]:
    """Times (ascending, once each) of the last step's occurrences that end a chain.
    ``steps``: each step's occurrences, ascending; ``gaps``: one per step after the first."""
    ends = sorted({at for at, _ in steps[0]})
    for points, gap in zip(steps[1:], gaps, strict=True):
        reached: list[int] = []
        for at in sorted({at for at, _ in points}):
            before = bisect.bisect_left(ends, at)  # chain ends strictly earlier
            if before and at - ends[before - 1] <= gap:
                reached.append(at)
        ends = reached
    return ends


def window_outcome(ends: list[int], now: int, window: int) -> tuple[bool, int | None]:
    """Whether a chain ended in (now - window, now], and when that can next change:
    the latest such end leaving the window, or, with none, the first one stamped
    ahead of now entering it."""
    first = bisect.bisect_right(ends, now - window)
    last = bisect.bisect_right(ends, now)
    if first < last:
        return True, ends[last - 1] + window
    return False, ends[last] if last < len(ends) else None
