"""The persons a sequential pass over events yields: one per connected identity group.

Events are taken in the given order; merges follow the same rules as the
stream (identified sources refuse ``$identify``/``$create_alias``, illegal ids
never merge). Property updates and the merge of two persons' properties use
the rules of ``person_state`` (last write by event time; on a merge the
winner's values take precedence and the earliest ``$set_once`` stays), which
have table-driven tests of their own; what this oracle adds is the sequence.

Person ids follow the stream's scheme, so results compare id for id: a new
person's id is derived from its first distinct_id, a merge keeps the smaller
id, and an id merged away forwards to the one that absorbed it (a deleted
distinct_id seen again lands where its old id forwards to). Subclasses hook
into events, merges and deletes (the cohort oracle does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.tables.identities import MERGE_EVENTS, is_illegal_merge_id
from cohortstream.tables.person_properties import person_updates
from cohortstream.tables.person_state import (
    WINNER_FIRST,
    PersonState,
    apply_set,
    apply_set_once,
    apply_unset,
    merge_into,
    new_person,
)


@dataclass
class OraclePerson:
    id: str
    distinct_ids: set[str]
    properties: dict[str, Any]
    is_identified: bool


@dataclass
class _Group:
    id: str
    distinct_ids: set[str] = field(default_factory=set)
    state: PersonState = field(default_factory=lambda: new_person(0, "", 0))  # properties
    is_identified: bool = False


class PersonsOracle:
    def __init__(
        self,
        merge_properties_by: str = WINNER_FIRST,
        rules: IdentityRules | None = None,
        properties_order: str = "event_time",
    ) -> None:
        self.merge_properties_by = merge_properties_by
        self.properties_order = properties_order
        self.rules = rules or IdentityRules()
        self._group_of: dict[tuple[int, str], _Group] = {}
        self._forward: dict[str, str] = {}  # person id merged away -> the absorbing one
        self.refused_merges = 0

    def apply(self, event: dict[str, Any]) -> None:
        project_id, distinct_id = event["project_id"], event["distinct_id"]
        if self.rules.is_blocked(project_id, distinct_id):
            return  # dead-lettered by ingestion
        group = self._group(project_id, distinct_id)
        properties = event["properties"]
        clock = "created_at_us" if self.properties_order == "received" else "timestamp_us"
        stamp = (event[clock], event["uuid"])
        updates, _ = person_updates(properties)
        if updates.get("set"):
            apply_set(group.state, updates["set"], stamp)
        if updates.get("set_once"):
            apply_set_once(group.state, updates["set_once"], stamp)
        if updates.get("unset"):
            apply_unset(group.state, updates["unset"], stamp)
        name = event["event"]
        if name == "$identify":
            group.is_identified = True
        if name == "$delete_person":
            self._deleting(group, event)
            for other in group.distinct_ids:
                del self._group_of[(project_id, other)]
            return
        self._received(group, event)
        if name in MERGE_EVENTS:
            field_name, kind = MERGE_EVENTS[name]
            other = properties.get(field_name)
            if isinstance(other, int) and not isinstance(other, bool):
                other = str(other)
            if (
                isinstance(other, str)
                and other != distinct_id
                and not is_illegal_merge_id(other)
                and not self.rules.is_blocked(project_id, other)
            ):
                self._merge(project_id, source=other, into=group, kind=kind, event=event)

    # Hooks for subclasses.
    def _received(self, group: _Group, event: dict[str, Any]) -> None:
        """An event (not a delete) was applied to ``group``."""

    def _deleting(self, group: _Group, event: dict[str, Any]) -> None:
        """``group`` is about to be deleted."""

    def _merging(self, survivor: _Group, loser: _Group, event: dict[str, Any]) -> None:
        """Two groups are about to become one under ``survivor``'s id."""

    def _merged(self, group: _Group, event: dict[str, Any]) -> None:
        """``group`` is the result of a merge."""

    def _group(self, project_id: int, distinct_id: str) -> _Group:
        group = self._group_of.get((project_id, distinct_id))
        if group is None:
            person_id = person_id_for(project_id, distinct_id)
            while person_id in self._forward:
                person_id = self._forward[person_id]
            live = self._live_by_id(project_id, person_id)
            if live is not None:
                live.distinct_ids.add(distinct_id)
                group = live
            else:
                group = self._new_group(person_id, distinct_id)
            self._group_of[(project_id, distinct_id)] = group
        return group

    def _new_group(self, person_id: str, distinct_id: str) -> _Group:
        return _Group(id=person_id, distinct_ids={distinct_id})

    def _live_by_id(self, project_id: int, person_id: str) -> _Group | None:
        for (p, _), group in self._group_of.items():
            if p == project_id and group.id == person_id:
                return group
        return None

    def _merge(
        self, project_id: int, *, source: str, into: _Group, kind: str, event: dict[str, Any]
    ) -> None:
        existing = self._group_of.get((project_id, source))
        if existing is None:
            into.is_identified = into.is_identified or kind != "merge_dangerously"
            into.distinct_ids.add(source)
            self._group_of[(project_id, source)] = into
            return
        if existing is into:
            return
        if existing.is_identified and kind != "merge_dangerously":
            self.refused_merges += 1
            return
        survivor, loser = (into, existing) if into.id < existing.id else (existing, into)
        self._merging(survivor, loser, event)
        self._forward[loser.id] = survivor.id
        into.id = survivor.id
        into.distinct_ids |= existing.distinct_ids
        # ``into`` is the event's side: the semantic winner.
        merge_into(
            into.state,
            existing.state,
            incoming_wins=False,
            identified=False,
            properties_by=self.merge_properties_by,
        )
        into.is_identified = (
            into.is_identified or existing.is_identified or kind != "merge_dangerously"
        )
        for other in existing.distinct_ids:
            self._group_of[(project_id, other)] = into
        self._merged(into, event)

    def persons(self, project_id: int) -> list[OraclePerson]:
        groups = {id(g): g for (p, _), g in self._group_of.items() if p == project_id}
        return [
            OraclePerson(g.id, set(g.distinct_ids), g.state["properties"], g.is_identified)
            for g in groups.values()
        ]
