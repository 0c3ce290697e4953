"""Per-person event counters sized by what the criteria need, whatever the event volume.

A counter belongs to one *spec*: an event name plus its ``where`` filters.
It keeps the K latest occurrences ([time in seconds, event uuid], sorted) and
up to C event uuids for totals, where K and C are the most any condition on
that spec needs (uuids make a redelivered event count once):

- ``exists``/``not_exists`` within W: the latest time (K = 1);
- ``count op N`` within W: the N + 1 latest times are enough to tell every
  operator at any moment (K = N + 1);
- without a window: the total, capped at N + 1 (or 1 for exists);
- ``first_time`` within W: the earliest occurrence ever ("first"), whatever
  the window, kept apart from the latest ones;
- ``between [S, E]`` (and ``stopped``): per range, the occurrences after
  now - S thinned to what windows of width S - E can tell apart
  (``thinning``), under "rng";
- ``started_again`` (gap G within W): per gap, the occurrences after
  now - W - G thinned the same way with width G, and the latest one before,
  under "gap";
- ``regularly``: per period length, the last ``of_last`` periods with an
  occurrence (``periods``), under "per";
- a ``sequence`` step: the occurrences within the step's horizon (the
  sequence's window plus the gaps of the steps after it), one per second,
  under "seq" (``sequences``). Which later-step occurrences complete a chain
  depends on earlier steps that may still arrive late, so nothing finer is
  exact: only the first step is thinned (to its gap), and a list holds at
  most ``MAX_SEQUENCE_POINTS``, the oldest going first.

Windows are rolling and exact to the second: at time t, ``within W`` covers
occurrences with time in (t - W, t]. Because the kept times are the latest
ones, a late (out-of-order) occurrence is placed where it belongs, and one
older than all K kept ones cannot change any answer. Occurrences stamped
after the moment of recording (clients' clocks run ahead; ingestion accepts
up to 23 hours) are all kept until that moment passes them: each will be
among the latest once its time comes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from cohortstream.cohorts import periods as calendar
from cohortstream.cohorts.definition import EventCondition
from cohortstream.cohorts.thinning import Point, insert, thin

# {"ts": [[seconds, uuid], ...] ascending, "ids": [uuid, ...], "first": [seconds, uuid]}
Counter = dict[str, Any]


def spec_key(condition: EventCondition) -> str:
    """Conditions on the same event and filters share one counter."""
    return condition.spec_key


@dataclass(frozen=True)
class Needs:
    """How much history one spec must keep."""

    latest: int = 0  # K
    total_cap: int = 0  # C
    first: bool = False  # the earliest occurrence ever
    ranges: tuple[tuple[int, int, int], ...] = ()  # (start, end, K) of between conditions
    gaps: tuple[tuple[int, int], ...] = ()  # (gap, longest window) of started_again
    periods: tuple[tuple[int, int], ...] = ()  # (period, longest of_last) of regularly
    sequences: tuple[tuple[int, int], ...] = ()  # (horizon, thinning width) of sequence steps

    def merge(self, other: Needs) -> Needs:
        return Needs(
            max(self.latest, other.latest),
            max(self.total_cap, other.total_cap),
            self.first or other.first,
            _most(self.ranges, other.ranges, 2),
            _most(self.gaps, other.gaps, 1),
            _most(self.periods, other.periods, 1),
            _most(self.sequences, other.sequences, 2),
        )


def _most(a: tuple[Any, ...], b: tuple[Any, ...], key_length: int) -> tuple[Any, ...]:
    """Entries of both, one per key (the first ``key_length`` fields), keeping the most."""
    best: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for entry in (*a, *b):
        key = entry[:key_length]
        best[key] = max(best.get(key, entry), entry)
    return tuple(sorted(best.values()))


def needs_of(condition: EventCondition) -> Needs:
    threshold = condition.value or 0
    keep = threshold + 1 if condition.check == "count" else 1
    if condition.check == "first_time":
        return Needs(first=True)
    if condition.check == "regularly":
        period = condition.period_seconds or 0
        return Needs(periods=((period, condition.of_last or 1),))
    if condition.check == "started_again":
        return Needs(gaps=((condition.gap_seconds or 0, condition.window_seconds or 0),))
    span = condition.range_seconds
    if span is not None:
        ranges = ((span[0], span[1], keep),)
        # stopped: also whether it happened since the range ended
        return Needs(ranges=ranges, latest=1 if condition.check == "stopped" else 0)
    if condition.within is None:
        return Needs(total_cap=keep)
    return Needs(latest=keep)


def record(counter: Counter | None, at: int, event_uuid: str, needs: Needs, now: int) -> Counter:
    """A new counter with the occurrence of ``event_uuid`` at ``at`` (seconds),
    recorded at ``now``; the same counter when it already holds that event."""
    times = list(counter["ts"]) if counter else []
    ids = list(counter["ids"]) if counter else []
    changed = False
    if needs.latest:
        entry = [at, event_uuid]
        position = bisect.bisect_left(times, entry)
        if position == len(times) or times[position] != entry:
            times.insert(position, entry)
            times = _trim(times, needs.latest, now)
            changed = True
    # Checked apart from the times: a cohort added later may need more ids than
    # were kept so far, and its backfill brings the same events again.
    if len(ids) < max(needs.total_cap, 1) and event_uuid not in ids:
        ids.append(event_uuid)
        changed = True
    first = counter.get("first") if counter else None
    if needs.first and (first is None or [at, event_uuid] < first):
        first = [at, event_uuid]
        changed = True
    extras = None
    if needs.ranges or needs.gaps or needs.periods or needs.sequences or _has_extras(counter):
        extras = _extras(counter)
        changed = _record_extras(extras, [at, event_uuid], needs, now) or changed
    if not changed and counter is not None:
        return counter
    return _counter(times, ids, first, extras)


def _has_extras(counter: Counter | None) -> bool:
    return counter is not None and any(name in counter for name in _EXTRAS)


def _record_extras(
    extras: dict[str, dict[str, list[Any]]], point: Point, needs: Needs, now: int
) -> bool:
    """Add one occurrence to every range, gap and period list; whether any changed."""
    changed = False
    for name, lists in extras.items():
        for key, points in list(lists.items()):
            updated = _add_extra(name, key, points, point, needs, now)
            if updated is not points:
                lists[key] = updated
                changed = True
    for name, key in _extra_keys(needs):
        if key not in extras[name]:
            extras[name][key] = _add_extra(name, key, [], point, needs, now)
            changed = True
    return changed


def _extras(counter: Counter | None) -> dict[str, dict[str, list[Any]]]:
    """Copies of the range, gap and period lists (whose values are replaced, not changed)."""
    return {name: dict(counter.get(name, {})) if counter else {} for name in _EXTRAS}


_EXTRAS = ("rng", "gap", "per", "seq")
MAX_SEQUENCE_POINTS = 1_000


def range_key(start: int, end: int) -> str:
    return f"{start}:{end}"


def sequence_key(horizon: int, width: int) -> str:
    return f"{horizon}:{width}"


def _extra_keys(needs: Needs) -> list[tuple[str, str]]:
    return [
        *(("rng", range_key(start, end)) for start, end, _ in needs.ranges),
        *(("gap", str(gap)) for gap, _ in needs.gaps),
        *(("per", str(period)) for period, _ in needs.periods),
        *(("seq", sequence_key(horizon, width)) for horizon, width in needs.sequences),
    ]


def _add_extra(
    name: str, key: str, points: list[Any], point: Point, needs: Needs, now: int
) -> list[Any]:
    """``points`` with one more occurrence, trimmed and thinned; the same list
    when nothing changed."""
    if name == "per":
        added, changed = calendar.add(points, point[0], int(key))
    elif name == "seq" and _has_second(points, point[0]):
        return points  # a chain reads times: another event of that second adds nothing
    else:
        added, changed = insert(points, point)
    if not changed:
        return points
    kept = _kept(name, key, added, needs, now)
    return points if kept == points else kept


def _kept(name: str, key: str, points: list[Any], needs: Needs, now: int) -> list[Any]:
    """A range, gap or period list without what no answer from ``now`` on can
    need (all of it, when no condition reads the list any more)."""
    if name == "per":
        period = int(key)
        of_last = dict(needs.periods).get(period)
        return [] if of_last is None else calendar.trim(points, now, period, of_last)
    if name == "seq":
        if key not in {sequence_key(h, w) for h, w in needs.sequences}:
            return []
        horizon, width = (int(part) for part in key.split(":"))
        recent = _one_per_second([p for p in points if p[0] > now - horizon])
        return (thin(recent, width, 1) if width else recent)[-MAX_SEQUENCE_POINTS:]
    if name == "rng":
        limits = {range_key(s, e): (s, e, k) for s, e, k in needs.ranges}
        if key not in limits:
            return []
        start, end, keep = limits[key]
        recent = [p for p in points if p[0] > now - start]
        return thin(recent, start - end, keep)
    windows = dict(needs.gaps)
    gap = int(key)
    if gap not in windows:
        return []
    horizon = now - windows[gap] - gap
    older = [p for p in points if p[0] <= horizon]
    # The latest older point only says that something came before.
    return thin(older[-1:] + [p for p in points if p[0] > horizon], gap, 1)


def _has_second(points: list[Point], second: int) -> bool:
    position = bisect.bisect_left(points, second, key=_seconds)
    return position < len(points) and points[position][0] == second


def _one_per_second(points: list[Point]) -> list[Point]:
    """The first occurrence of each second: a chain only reads times."""
    kept: list[Point] = []
    for point in points:
        if not kept or kept[-1][0] != point[0]:
            kept.append(point)
    return kept


def _union(a: list[Point], b: list[Point]) -> list[Point]:
    """The occurrences of both lists, once each, ascending."""
    return [list(e) for e in sorted({(t, u) for t, u in a + b})]


def _counter(
    times: list[list[Any]],
    ids: list[str],
    first: list[Any] | None,
    extras: dict[str, dict[str, list[Any]]] | None = None,
) -> Counter:
    counter: Counter = {"ts": times, "ids": ids}
    if first is not None:  # only specs a first_time condition reads keep it
        counter["first"] = first
    for name, lists in (extras or {}).items():
        if lists:
            counter[name] = lists
    return counter


def _trim(times: list[list[Any]], keep: int, now: int) -> list[list[Any]]:
    """The ``keep`` latest occurrences up to ``now``, and every one after it."""
    split = _after(times, now)
    return times[max(0, split - keep) :]


def total(counter: Counter | None) -> int:
    """Occurrences ever, up to C."""
    return len(counter["ids"]) if counter else 0


def merge_counters(a: Counter | None, b: Counter | None, needs: Needs, now: int) -> Counter | None:
    """Two persons' counters as one (a merge): latest occurrences of both, uuids of both."""
    if a is None or b is None:
        return a or b
    times = _union(a["ts"], b["ts"])
    kept = _trim(times, needs.latest, now) if needs.latest else []
    ids = list(dict.fromkeys(a["ids"] + b["ids"]))[: max(needs.total_cap, 1)]
    firsts = [f for f in (a.get("first"), b.get("first")) if f is not None]
    extras = _extras(a)
    for name, lists in _extras(b).items():
        for key, points in lists.items():
            mine = extras[name].get(key, [])
            if name == "per":
                joined = calendar.union(mine, points, int(key))
            else:
                joined = _union(mine, points)
            extras[name][key] = _kept(name, key, joined, needs, now)
    return _counter(kept, ids, min(firsts) if needs.first and firsts else None, extras)


def range_points(counter: Counter | None, start: int, end: int) -> list[Point]:
    """The kept occurrences of a ``between [start, end]`` spec."""
    return counter.get("rng", {}).get(range_key(start, end), []) if counter else []


def gap_points(counter: Counter | None, gap: int) -> list[Point]:
    return counter.get("gap", {}).get(str(gap), []) if counter else []


def sequence_points(counter: Counter | None, horizon: int, width: int) -> list[Point]:
    """The kept occurrences of one sequence step."""
    return counter.get("seq", {}).get(sequence_key(horizon, width), []) if counter else []


def period_list(counter: Counter | None, period: int) -> list[calendar.Period]:
    return counter.get("per", {}).get(str(period), []) if counter else []


def first_occurrence(counter: Counter | None) -> list[Any] | None:
    """[seconds, uuid] of the earliest occurrence recorded, for first_time conditions."""
    return counter.get("first") if counter else None


def _after(ts: list[list[Any]], moment: int) -> int:
    """How many of the ascending [seconds, uuid] entries are at or before ``moment``."""
    return bisect.bisect_right(ts, moment, key=_seconds)


def _seconds(entry: list[Any]) -> int:
    return entry[0]  # type: ignore[no-any-return]


def window_state(counter: Counter | None, now: int, window: int) -> tuple[int, int | None]:
    """``count_within`` and the next moment it changes (the earlier of ``next_exit``
    and ``next_entry``), with one pass of two bisections: evaluation's hot path."""
    if not counter:
        return 0, None
    ts = counter["ts"]
    first, last = _after(ts, now - window), _after(ts, now)
    exit_at = ts[first][0] + window if first < last else None
    entry_at = ts[last][0] if last < len(ts) else None
    if exit_at is None or (entry_at is not None and entry_at < exit_at):
        return last - first, entry_at
    return last - first, exit_at


def count_within(counter: Counter | None, now: int, window: int) -> int:
    """Occurrences with time in (now - window, now], up to K."""
    if not counter:
        return 0
    ts = counter["ts"]
    return _after(ts, now) - _after(ts, now - window)


def next_exit(counter: Counter | None, now: int, window: int) -> int | None:
    """When the oldest occurrence inside the window leaves it (the next change)."""
    if not counter:
        return None
    ts = counter["ts"]
    first = _after(ts, now - window)
    if first < len(ts) and ts[first][0] <= now:
        return ts[first][0] + window  # type: ignore[no-any-return]
    return None


def next_entry(counter: Counter | None, now: int) -> int | None:
    """When an occurrence stamped in the future (clock skew within bounds) enters."""
    if not counter:
        return None
    ts = counter["ts"]
    later = _after(ts, now)
    return ts[later][0] if later < len(ts) else None
