"""One person's state and the rules that change it: property updates and merges.

Property updates follow event time: each key remembers the (timestamp, event
uuid) that last wrote it, and an update older than that loses. Applying the
same event twice, or two events in either order, therefore ends in the same
state, which is what at-least-once delivery and cross-partition races need.
"""

from __future__ import annotations

from typing import Any, TypedDict

# How a key got its current value (or lost it): decides precedence on later writes and merges.
SET = "set"
SET_ONCE = "once"
UNSET = "unset"

# [timestamp_us, event uuid, origin]
Stamp = list[Any]


class PersonState(TypedDict, total=False):
    """The value of the persons table. ``forward`` marks a person merged away:
    commands for it go on to that person, and ``moved`` keeps what it handed
    over so the hand-over can be re-sent if the first one was lost, until the
    survivor acknowledges it (``absorbed``)."""

    project_id: int
    id: str
    properties: dict[str, Any]
    set_at: dict[str, Stamp]
    version: int
    is_identified: bool
    created_at_us: int
    distinct_ids: dict[str, int]  # distinct_id -> mapping version
    merged: dict[str, int]  # person ids merged into this one -> override version
    deleted: bool
    forward: str
    moved: PersonState
    incoming_wins: bool  # how ``moved`` was handed over
    kind: str
    at: int
    # Cohorts (see person_cohorts): counters per spec, memberships, next deadline.
    counters: dict[str, Any]
    cohorts: dict[str, list[Any]]
    next_check: int | None
    evaluated_at: int  # the latest moment cohorts were evaluated at (seconds)
    manual: list[str]  # in ``moved``: the manual cohorts the merged-away person was in
    erased_before_s: int  # deleted then: replayed history from before it is ignored
    # Under a distinct_id limit (persons.py): room promised to persons about to
    # hand their state over (person id -> their distinct_ids), and distinct_ids
    # refused at the limit (-> the mapping version refused).
    reserved: dict[str, list[str]]
    refused: dict[str, int]


def new_person(project_id: int, person_id: str, created_at_us: int) -> PersonState:
    return PersonState(
        project_id=project_id,
        id=person_id,
        properties={},
        set_at={},
        version=0,
        is_identified=False,
        created_at_us=created_at_us,
        distinct_ids={},
        merged={},
    )


def revived(tombstone: PersonState, created_at_us: int) -> PersonState:
    """A deleted (or never seen) person starting over; versions keep counting up."""
    fresh = new_person(tombstone["project_id"], tombstone["id"], created_at_us)
    fresh["version"] = tombstone.get("version", 0) + 1
    if tombstone.get("cohorts"):
        fresh["cohorts"] = tombstone["cohorts"]  # all left; entry counts go on
    if tombstone.get("merged"):
        fresh["merged"] = tombstone["merged"]  # a stale hand-over must not resurrect them
    if "erased_before_s" in tombstone:
        fresh["erased_before_s"] = tombstone["erased_before_s"]
    return fresh


def is_live(state: PersonState | None) -> bool:
    return state is not None and not state.get("deleted") and "forward" not in state


def _newer(stamp: tuple[int, str], than: Stamp) -> bool:
    return stamp >= (than[0], than[1])


def apply_set(state: PersonState, values: dict[str, Any], stamp: tuple[int, str]) -> bool:
    """``$set``: newest event wins; beats any ``$set_once``. Returns whether a value changed."""
    changed = False
    for key, value in values.items():
        previous = state["set_at"].get(key)
        if previous is not None and previous[2] != SET_ONCE and not _newer(stamp, previous):
            continue
        state["set_at"][key] = [stamp[0], stamp[1], SET]
        if key not in state["properties"] or state["properties"][key] != value:
            state["properties"][key] = value
            changed = True
    return changed


def apply_set_once(state: PersonState, values: dict[str, Any], stamp: tuple[int, str]) -> bool:
    """``$set_once``: only where the key holds no value, or holds a later ``$set_once``'s
    (the earliest by event time is kept)."""
    changed = False
    for key, value in values.items():
        previous = state["set_at"].get(key)
        if previous is not None:
            if previous[2] == SET:
                continue
            if previous[2] == SET_ONCE and _newer(stamp, previous):
                continue
            if previous[2] == UNSET and not _newer(stamp, previous):
                continue
        state["set_at"][key] = [stamp[0], stamp[1], SET_ONCE]
        if key not in state["properties"] or state["properties"][key] != value:
            state["properties"][key] = value
            changed = True
    return changed


def apply_unset(state: PersonState, keys: list[str], stamp: tuple[int, str]) -> bool:
    """``$unset``: removes keys written before it; remembered so older writes stay removed."""
    changed = False
    for key in keys:
        previous = state["set_at"].get(key)
        if previous is not None and not _newer(stamp, previous):
            continue
        state["set_at"][key] = [stamp[0], stamp[1], UNSET]
        if key in state["properties"]:
            del state["properties"][key]
            changed = True
    return changed


# How a merge combines the two persons' values of one key (setting PERSON_MERGE_PROPERTIES).
BY_EVENT_TIME = "event_time"  # as if both persons' writes had been applied in event time
WINNER_FIRST = "winner"  # the semantic winner's value, except the earliest $set_once


def merge_into(
    target: PersonState,
    incoming: PersonState,
    *,
    incoming_wins: bool,
    identified: bool,
    properties_by: str = WINNER_FIRST,
) -> None:
    """Fold ``incoming`` (a person merged away) into ``target``, in place.

    Properties ``by event time``: each key ends as if the writes of both sides
    had been applied in event-time order (the newest ``$set``/``$unset``, the
    earliest ``$set_once``, a ``$set`` over a ``$set_once``), so the result is
    the same whichever side absorbs the other and in whatever order merges
    land, where each key is written one way; a key written by ``$set``,
    ``$set_once`` and ``$unset`` alike keeps only its last stamp, so there
    the order still matters (the crash simulation finds it). ``winner`` (the
    default): the winner's values take precedence (PostHog's rule),
    except that where both sides hold a ``$set_once`` value the earlier one
    stays. ``identified``: the merge came from ``$identify``/``$create_alias``,
    which identifies the result.
    """
    if properties_by == BY_EVENT_TIME:
        base, over = target, incoming
        takes = _later_write
    else:
        base, over = (target, incoming) if incoming_wins else (incoming, target)
        takes = _winners_write
    properties = dict(base["properties"])
    set_at = dict(base["set_at"])
    for key, stamp in over["set_at"].items():
        if not takes(set_at.get(key), stamp):
            continue
        set_at[key] = stamp
        if key in over["properties"]:
            properties[key] = over["properties"][key]
        else:
            properties.pop(key, None)
    target["properties"] = properties
    target["set_at"] = set_at
    target["is_identified"] = (
        target["is_identified"] or incoming.get("is_identified", False) or identified
    )
    target["created_at_us"] = min(target["created_at_us"], incoming["created_at_us"])
    distinct_ids = dict(target["distinct_ids"])
    for distinct_id, version in incoming["distinct_ids"].items():
        distinct_ids[distinct_id] = max(distinct_ids.get(distinct_id, -1), version + 1)
    target["distinct_ids"] = distinct_ids
    merged = dict(target["merged"])
    merged[incoming["id"]] = max(merged.get(incoming["id"], 0), 1)
    for person_id, version in incoming["merged"].items():
        merged[person_id] = max(merged.get(person_id, 0), version + 1)
    target["merged"] = merged
    target["version"] += 1


def _later_write(kept: Stamp | None, other: Stamp) -> bool:
    """Whether ``other`` is what applying both writes of a key in event time leaves."""
    if kept is None:
        return True
    if {kept[2], other[2]} == {SET, SET_ONCE}:
        return other[2] == SET  # a $set replaces a $set_once; never the other way
    if kept[2] == other[2] == SET_ONCE:
        return (other[0], other[1]) < (kept[0], kept[1])
    return (other[0], other[1]) > (kept[0], kept[1])


def _winners_write(kept: Stamp | None, other: Stamp) -> bool:
    """The winner's write (``other``) replaces the loser's, except an earlier
    $set_once of both."""
    return not (
        kept is not None
        and other[2] == SET_ONCE
        and kept[2] == SET_ONCE
        and (kept[0], kept[1]) < (other[0], other[1])
    )


def public_view(state: PersonState) -> dict[str, Any]:
    """What the web view and the sinks show of a live person."""
    return {
        "project_id": state["project_id"],
        "person_id": state["id"],
        "distinct_ids": sorted(state["distinct_ids"]),
        "properties": state["properties"],
        "is_identified": state["is_identified"],
        "version": state["version"],
        "created_at_us": state["created_at_us"],
        # Cohorts the person is a member of now: id -> entered at (seconds).
        "cohorts": {
            cohort_id: membership[1]
            for cohort_id, membership in sorted(state.get("cohorts", {}).items())
            if membership[0]
        },
    }
