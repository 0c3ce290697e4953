"""Calendar periods for ``regularly``: UTC hours, UTC days, weeks from Monday 00:00 UTC.

A period list keeps, per period with an occurrence, its index and the time of
its earliest occurrence ([index, seconds], ascending): the period counts from
that moment (an occurrence stamped ahead of the clock counts once its time
comes) until the period is no longer among the last ``of_last``.
"""

from __future__ import annotations

import bisect

WEEK_OFFSET = 3 * 86_400  # 1970-01-01 was a Thursday; weeks start on Monday

Period = list[int]  # [index, earliest seconds]


def index_of(at: int, period: int) -> int:
    if period == 604_800:
        return (at + WEEK_OFFSET) // period
    return at // period


def start_of(index: int, period: int) -> int:
    if period == 604_800:
        return index * period - WEEK_OFFSET
    return index * period


def add(periods: list[Period], at: int, period: int) -> tuple[list[Period], bool]:
    """The list with an occurrence at ``at``, and whether it changed."""
    index = index_of(at, period)
    indexes = [i for i, _ in periods]
    position = bisect.bisect_left(indexes, index)
    if position < len(periods) and periods[position][0] == index:
        if periods[position][1] <= at:
            return periods, False
        return [*periods[:position], [index, at], *periods[position + 1 :]], True
    return [*periods[:position], [index, at], *periods[position:]], True


def trim(periods: list[Period], now: int, period: int, of_last: int) -> list[Period]:
    """Without the periods that can no longer be among the last ``of_last``."""
    oldest = index_of(now, period) - of_last + 1
    return [p for p in periods if p[0] >= oldest]


def union(a: list[Period], b: list[Period], period: int) -> list[Period]:
    merged = a
    for _, at in b:
        merged, _ = add(merged, at, period)
    return merged


def counted(periods: list[Period], now: int, period: int, of_last: int) -> list[Period]:
    """The periods among the last ``of_last`` (the current one included) that count now."""
    current = index_of(now, period)
    return [p for p in periods if current - of_last < p[0] <= current and p[1] <= now]


def next_change(periods: list[Period], now: int, period: int, of_last: int) -> int | None:
    """When the count next changes: a counted period falls out, or an early-stamped
    occurrence's time comes."""
    moments = [start_of(i + of_last, period) for i, _ in counted(periods, now, period, of_last)]
    moments += [at for _, at in periods if at > now]
    return min(moments) if moments else None
