"""The persons a sequential pass over events yields: one per connected identity group.

Events are taken in the given order; merges follow the same rules as the
stream (identified sources refuse ``$identify``/``$create_alias``, illegal ids
never merge). Person properties are recomputed from every update the group
ever received, by event time: the newest ``$set``/``$unset`` of a key decides,
and where none set it, the earliest ``$set_once`` after the last ``$unset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cohortstream.tables.identities import MERGE_EVENTS, is_illegal_merge_id
from cohortstream.tables.person_properties import person_updates


@dataclass
class OraclePerson:
    distinct_ids: set[str]
    properties: dict[str, Any]
    is_identified: bool


@dataclass
class _Group:
    distinct_ids: set[str] = field(default_factory=set)
    # (timestamp_us, uuid, kind, key, value)
    updates: list[tuple[int, str, str, str, Any]] = field(default_factory=list)
    is_identified: bool = False


class PersonsOracle:
    def __init__(self) -> None:
        self._group_of: dict[tuple[int, str], _Group] = {}
        self.refused_merges = 0

    def apply(self, event: dict[str, Any]) -> None:
        project_id, distinct_id = event["project_id"], event["distinct_id"]
        group = self._group(project_id, distinct_id)
        properties = event["properties"]
        stamp = (event["timestamp_us"], event["uuid"])
        updates, _ = person_updates(properties)
        for key, value in updates.get("set", {}).items():
            group.updates.append((*stamp, "set", key, value))
        for key, value in updates.get("set_once", {}).items():
            group.updates.append((*stamp, "once", key, value))
        for key in updates.get("unset", []):
            group.updates.append((*stamp, "unset", key, None))
        name = event["event"]
        if name == "$identify":
            group.is_identified = True
        if name == "$delete_person":
            for other in group.distinct_ids:
                del self._group_of[(project_id, other)]
            return
        if name in MERGE_EVENTS:
            field_name, kind = MERGE_EVENTS[name]
            other = properties.get(field_name)
            if isinstance(other, int) and not isinstance(other, bool):
                other = str(other)
            if isinstance(other, str) and other != distinct_id and not is_illegal_merge_id(other):
                self._merge(project_id, source=other, into=group, kind=kind)

    def _group(self, project_id: int, distinct_id: str) -> _Group:
        group = self._group_of.get((project_id, distinct_id))
        if group is None:
            group = _Group(distinct_ids={distinct_id})
            self._group_of[(project_id, distinct_id)] = group
        return group

    def _merge(self, project_id: int, *, source: str, into: _Group, kind: str) -> None:
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
        into.distinct_ids |= existing.distinct_ids
        into.updates += existing.updates
        into.is_identified = (
            into.is_identified or existing.is_identified or kind != "merge_dangerously"
        )
        for other in existing.distinct_ids:
            self._group_of[(project_id, other)] = into

    def persons(self, project_id: int) -> list[OraclePerson]:
        groups = {id(g): g for (p, _), g in self._group_of.items() if p == project_id}
        return [
            OraclePerson(set(g.distinct_ids), _properties(g.updates), g.is_identified)
            for g in groups.values()
        ]


def _properties(updates: list[tuple[int, str, str, str, Any]]) -> dict[str, Any]:
    by_key: dict[str, list[tuple[int, str, str, str, Any]]] = {}
    for update in updates:
        by_key.setdefault(update[3], []).append(update)
    properties: dict[str, Any] = {}
    for key, key_updates in by_key.items():
        key_updates.sort(key=lambda u: (u[0], u[1]))
        decisive = [u for u in key_updates if u[2] != "once"]
        last = decisive[-1] if decisive else None
        if last is not None and last[2] == "set":
            properties[key] = last[4]
            continue
        after = [u for u in key_updates if u[2] == "once" and (last is None or u[:2] > last[:2])]
        if after:
            properties[key] = after[0][4]
    return properties
