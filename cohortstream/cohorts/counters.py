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
  the window, kept apart from the latest ones.

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

import orjson

from cohortstream.cohorts.definition import EventCondition

# {"ts": [[seconds, uuid], ...] ascending, "ids": [uuid, ...], "first": [seconds, uuid]}
Counter = dict[str, Any]


def spec_key(condition: EventCondition) -> str:
    """Conditions on the same event and filters share one counter."""
    filters = sorted(
        (f.key, f.operator, orjson.dumps(f.value, option=orjson.OPT_SORT_KEYS).decode())
        for f in condition.where
    )
    return condition.event + ("?" + orjson.dumps(filters).decode() if filters else "")


@dataclass(frozen=True)
class Needs:
    """How much history one spec must keep."""

    latest: int = 0  # K
    total_cap: int = 0  # C
    first: bool = False  # the earliest occurrence ever

    def merge(self, other: Needs) -> Needs:
        return Needs(
            max(self.latest, other.latest),
            max(self.total_cap, other.total_cap),
            self.first or other.first,
        )


def needs_of(condition: EventCondition) -> Needs:
    threshold = condition.value or 0
    if condition.check == "first_time":
        return Needs(first=True)
    if condition.within is None:
        return Needs(total_cap=threshold + 1 if condition.check == "count" else 1)
    return Needs(latest=threshold + 1 if condition.check == "count" else 1)


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
    if not changed and counter is not None:
        return counter
    return _counter(times, ids, first)


def _counter(times: list[list[Any]], ids: list[str], first: list[Any] | None) -> Counter:
    counter: Counter = {"ts": times, "ids": ids}
    if first is not None:  # only specs a first_time condition reads keep it
        counter["first"] = first
    return counter


def _trim(times: list[list[Any]], keep: int, now: int) -> list[list[Any]]:
    """The ``keep`` latest occurrences up to ``now``, and every one after it."""
    split = bisect.bisect_right([t for t, _ in times], now)
    return times[max(0, split - keep) :]


def total(counter: Counter | None) -> int:
    """Occurrences ever, up to C."""
    return len(counter["ids"]) if counter else 0


def merge_counters(a: Counter | None, b: Counter | None, needs: Needs, now: int) -> Counter | None:
    """Two persons' counters as one (a merge): latest occurrences of both, uuids of both."""
    if a is None or b is None:
        return a or b
    times = [list(e) for e in sorted({(t, u) for t, u in a["ts"] + b["ts"]})]
    kept = _trim(times, needs.latest, now) if needs.latest else []
    ids = list(dict.fromkeys(a["ids"] + b["ids"]))[: max(needs.total_cap, 1)]
    firsts = [f for f in (a.get("first"), b.get("first")) if f is not None]
    return _counter(kept, ids, min(firsts) if needs.first and firsts else None)


def first_occurrence(counter: Counter | None) -> list[Any] | None:
    """[seconds, uuid] of the earliest occurrence recorded, for first_time conditions."""
    return counter.get("first") if counter else None


def count_within(counter: Counter | None, now: int, window: int) -> int:
    """Occurrences with time in (now - window, now], up to K."""
    if not counter:
        return 0
    times = [t for t, _ in counter["ts"]]
    return bisect.bisect_right(times, now) - bisect.bisect_right(times, now - window)


def next_exit(counter: Counter | None, now: int, window: int) -> int | None:
    """When the oldest occurrence inside the window leaves it (the next change)."""
    if not counter:
        return None
    times = [t for t, _ in counter["ts"]]
    first = bisect.bisect_right(times, now - window)
    if first < len(times) and times[first] <= now:
        return times[first] + window
    return None


def next_entry(counter: Counter | None, now: int) -> int | None:
    """When an occurrence stamped in the future (clock skew within bounds) enters."""
    if not counter:
        return None
    times = [t for t, _ in counter["ts"]]
    later = bisect.bisect_right(times, now)
    return times[later] if later < len(times) else None
